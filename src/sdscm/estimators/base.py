"""The estimator contract, its result type, covariate encodings and the registry.

An estimator sees only what a practitioner would see, ``X`` (n x p), ``t`` (0/1) and ``y``. It
follows scikit-learn's conventions: every parameter, ``random_state`` included, is set at
construction, stored under its own name and checked there (a bad value is an
:class:`EstimatorError` naming the estimator and the parameter, before any data is seen); then

- ``fit(X, t, y)`` learns and returns the estimator;
- ``effect(X)`` gives per-unit CATE estimates at any covariates, ``effect_interval(X)`` their
  intervals; ``ate()`` / ``ate_interval()`` the average effect over the training sample (or over
  ``X`` when given); ``ite_interval(X, t, y)`` predictive intervals for individual effects of units
  whose treatment and outcome are observed;
- ``estimate(X, t, y)`` is the one-call convenience: fit, then every output on the same units,
  as an :class:`EffectEstimate` (the paper's in-sample protocol); ``predict(X, t, y)`` gives the
  same summary for other units (out-of-sample scoring).

An output the method does not give raises :class:`NotProvided`. Metrics compare the outputs with
the benchmark's exact potential outcomes; estimators never see them.

Adding an estimator takes a few lines (subclass :class:`EffectEstimator`, see
docs/estimators.md), or, for an in-sample-only method, a function::

    from sdscm.estimators import EffectEstimate, register_estimator

    @register_estimator("DiffMeans", outputs={"ate", "cate"}, causal=False)
    def diff_means(X, t, y, *, seed):
        ate = y[t == 1].mean() - y[t == 0].mean()
        return EffectEstimate.constant(ate, n=len(y))
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Literal, Mapping, Protocol, runtime_checkable

import numpy as np

from sdscm.errors import SDSCMError

OUTPUTS = ("ate", "ate_interval", "cate", "cate_interval", "ite_interval")
"""What an estimator can produce; each registered estimator declares the subset it returns."""

Encoding = Literal["index", "onehot"]
ENCODINGS: tuple[str, ...] = ("index", "onehot")


class EstimatorError(SDSCMError):
    """An estimator name, parameter or requirement is wrong (a user error, not a failed fit)."""


@dataclass
class EffectEstimate:
    """What one estimator says about one dataset.

    ``ate`` is the point estimate of the average effect, with ``ate_lower``/``ate_upper`` (NaN
    where the method gives no interval). ``cate`` holds per-unit effect estimates (length n).
    ``cate_lower``/``cate_upper`` are intervals for the conditional effect; ``ite_lower``/
    ``ite_upper`` are predictive intervals for the individual effect (wider: they include outcome
    noise). Both kinds are scored against the true ITE. ``info`` holds diagnostics (numbers or
    short strings), e.g. the smallest fitted propensity of a DR learner.
    """

    ate: float = math.nan
    ate_lower: float = math.nan
    ate_upper: float = math.nan
    cate: np.ndarray | None = None
    cate_lower: np.ndarray | None = None
    cate_upper: np.ndarray | None = None
    ite_lower: np.ndarray | None = None
    ite_upper: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def constant(cls, ate: float, n: int, lower: float = math.nan, upper: float = math.nan,
                 **info: Any) -> "EffectEstimate":
        """A constant-effect estimate: every unit's CATE is the ATE (e.g. OLS on [X, t])."""
        return cls(ate=float(ate), ate_lower=float(lower), ate_upper=float(upper),
                   cate=np.full(n, float(ate)), info=dict(info))

    @classmethod
    def from_cate(cls, cate: np.ndarray, lower: np.ndarray | None = None,
                  upper: np.ndarray | None = None, **info: Any) -> "EffectEstimate":
        """ATE as the mean of per-unit CATE estimates (no ATE interval)."""
        cate = _vector(cate)
        return cls(ate=float(np.mean(cate)), cate=cate,
                   cate_lower=None if lower is None else _vector(lower),
                   cate_upper=None if upper is None else _vector(upper), info=dict(info))

    def outputs(self) -> set[str]:
        """The outputs this estimate actually carries (non-NaN ATE parts, non-None arrays)."""
        have = set()
        if not math.isnan(self.ate):
            have.add("ate")
        if not (math.isnan(self.ate_lower) or math.isnan(self.ate_upper)):
            have.add("ate_interval")
        if self.cate is not None:
            have.add("cate")
        if self.cate_lower is not None and self.cate_upper is not None:
            have.add("cate_interval")
        if self.ite_lower is not None and self.ite_upper is not None:
            have.add("ite_interval")
        return have

    def checked(self, n: int, name: str = "estimator") -> "EffectEstimate":
        """Coerce arrays to float vectors of length n (raising ValueError otherwise); return self."""
        self.ate, self.ate_lower, self.ate_upper = (float(np.squeeze(v)) for v in
                                                    (self.ate, self.ate_lower, self.ate_upper))
        for attr in ("cate", "cate_lower", "cate_upper", "ite_lower", "ite_upper"):
            value = getattr(self, attr)
            if value is None:
                continue
            vec = _vector(value)
            if vec.shape != (n,):
                raise ValueError(f"{name}: {attr} has shape {np.shape(value)}, expected ({n},)")
            setattr(self, attr, vec)
        return self


def _vector(a: Any) -> np.ndarray:
    """Flatten an (n,), (n, 1) or (n, 1, 1) array to a float vector."""
    arr = np.asarray(a, dtype=float)
    return arr.reshape(-1) if arr.ndim > 1 and arr.size == arr.shape[0] else arr


class NotProvided(EstimatorError):
    """The estimator does not give this output (e.g. an ATE interval from a meta-learner)."""


class ParameterError(EstimatorError):
    """A constructor parameter is unknown or has a bad value; names the estimator and parameter."""

    def __init__(self, estimator: str, parameter: str, problem: str):
        self.estimator, self.parameter, self.problem = estimator, parameter, problem
        super().__init__(f"estimator {estimator!r}: parameter {parameter!r} {problem}")


def check_random_state(estimator: str, value: Any) -> int:
    """``random_state`` as a non-negative int (bools and other types are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ParameterError(estimator, "random_state", f"must be a non-negative integer, got {value!r}")
    return int(value)


def check_fraction(estimator: str, name: str, value: Any, *, low: float = 0.0, high: float = 1.0) -> float:
    """A number strictly between `low` and `high` (e.g. ``alpha``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not low < float(value) < high:
        raise ParameterError(estimator, name, f"must be a number strictly between {low:g} and {high:g}, got {value!r}")
    return float(value)


def check_count(estimator: str, name: str, value: Any, *, minimum: int = 0) -> int:
    """An integer >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ParameterError(estimator, name, f"must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_choice(estimator: str, name: str, value: Any, choices: Iterable[Any]) -> Any:
    choices = tuple(choices)
    if value not in choices:
        raise ParameterError(estimator, name, f"must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_library_params(estimator: str, build: Callable[[], Any]) -> Any:
    """Build a library model now so that a bad parameter fails at construction: an unknown keyword
    (TypeError) or, for scikit-learn models, a value its parameter constraints refuse."""
    try:
        model = build()
    except TypeError as exc:
        m = re.search(r"keyword argument '(\w+)'", str(exc))
        raise ParameterError(estimator, m.group(1) if m else "?", f"is not accepted ({exc})") from None
    validate = getattr(model, "_validate_params", None)  # scikit-learn >= 1.2 parameter constraints
    if callable(validate) and hasattr(model, "_parameter_constraints"):
        try:
            validate()
        except (ValueError, TypeError) as exc:
            m = re.search(r"The '(\w+)' parameter", str(exc))
            raise ParameterError(estimator, m.group(1) if m else "?", f"is invalid: {exc}") from None
    return model


def _check_data(X: Any, t: Any, y: Any, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"{name}: X must be a 2-d array (n x p), got shape {X.shape}")
    t, y = np.asarray(t), np.asarray(y, dtype=float)
    if t.shape != (len(X),) or y.shape != (len(X),):
        raise ValueError(f"{name}: t and y must be vectors of length {len(X)}, got {t.shape} and {y.shape}")
    if not np.isin(t, (0, 1)).all():
        raise ValueError(f"{name}: t must be 0/1")
    return X, t.astype(int), y


class EffectEstimator:
    """Base class of every built-in estimator (scikit-learn style; see the module docstring).

    Subclasses store their parameters in ``__init__`` (same names as the arguments) and check
    them there, implement ``_fit(X, t, y)`` and the outputs they give. ``info_`` holds fit
    diagnostics (numbers or short strings) that end up in :attr:`EffectEstimate.info`.
    """

    def _name(self) -> str:
        return getattr(self, "name_", type(self).__name__)

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters and their values (scikit-learn's convention)."""
        sig = inspect.signature(type(self).__init__)
        out = {}
        for p in list(sig.parameters.values())[1:]:
            if p.kind == p.VAR_KEYWORD:
                out.update(getattr(self, p.name, {}) or {})
            elif p.kind != p.VAR_POSITIONAL:
                out[p.name] = getattr(self, p.name, None)
        return out

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- fitting
    def fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> "EffectEstimator":
        """Learn from covariates, 0/1 treatment and outcome; returns self."""
        X, t, y = _check_data(X, t, y, self._name())
        self.info_: dict[str, Any] = {}
        self._fit(X, t, y)
        self.X_train_, self.t_train_, self.y_train_ = X, t, y
        return self

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
        raise NotImplementedError

    def _fitted(self) -> None:
        if not hasattr(self, "X_train_"):
            raise EstimatorError(f"{self._name()}: call fit(X, t, y) first")

    def _is_train(self, X: np.ndarray) -> bool:
        """Whether X is the training covariates (the in-sample case some methods handle exactly)."""
        self._fitted()
        return X is self.X_train_ or (np.shape(X) == self.X_train_.shape and np.array_equal(X, self.X_train_))

    def _missing(self, what: str) -> NotProvided:
        return NotProvided(f"{self._name()} does not give {what}")

    # -- outputs (override those the method gives)
    def effect(self, X: np.ndarray) -> np.ndarray:
        """Per-unit CATE estimates at covariates X."""
        raise self._missing("CATE estimates")

    def effect_interval(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-unit intervals for the CATE at X (lower, upper)."""
        raise self._missing("CATE intervals")

    def ate(self, X: np.ndarray | None = None) -> float:
        """Average effect over the training sample (or over X): by default the mean CATE."""
        self._fitted()
        return float(np.mean(self.effect(self.X_train_ if X is None else np.asarray(X, dtype=float))))

    def ate_interval(self, X: np.ndarray | None = None) -> tuple[float, float]:
        """Interval for the average effect over the training sample (or over X)."""
        raise self._missing("an ATE interval")

    def ite_interval(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predictive intervals for the individual effects of units with observed t and y."""
        raise self._missing("ITE intervals")

    # -- summaries
    def predict(self, X: np.ndarray, t: np.ndarray | None = None, y: np.ndarray | None = None, *,
                in_sample: bool = False) -> EffectEstimate:
        """Every output the method gives, on the units X (ITE intervals need their t and y) as an
        :class:`EffectEstimate`. ``in_sample`` (X is the training data) asks for the ATE over the
        training sample, as :meth:`estimate` does."""
        self._fitted()
        X = np.asarray(X, dtype=float)
        where = None if in_sample else X
        out = EffectEstimate()

        def get(fn: Callable[[], Any]) -> Any:
            try:
                return fn()
            except NotProvided:
                return None

        cate = get(lambda: self.effect(X))
        out.cate = None if cate is None else np.asarray(cate, dtype=float)
        ate = get(lambda: self.ate(where))
        out.ate = math.nan if ate is None else float(ate)
        interval = get(lambda: self.ate_interval(where))
        if interval is not None:
            out.ate_lower, out.ate_upper = (float(np.squeeze(v)) for v in interval)
        ci = get(lambda: self.effect_interval(X))
        if ci is not None:
            out.cate_lower, out.cate_upper = ci
        if t is not None and y is not None:
            pi = get(lambda: self.ite_interval(X, np.asarray(t).astype(int), np.asarray(y, dtype=float)))
            if pi is not None:
                out.ite_lower, out.ite_upper = pi
        out.info = dict(getattr(self, "info_", {}))  # after the outputs: some add diagnostics
        return out.checked(len(X), self._name())

    def estimate(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> EffectEstimate:
        """Fit, then every output on the same units (the paper's in-sample protocol)."""
        self.fit(X, t, y)
        return self.predict(self.X_train_, self.t_train_, self.y_train_, in_sample=True)


@runtime_checkable
class Estimator(Protocol):
    """What the evaluation runner needs: ``fit`` then ``predict``, or ``estimate`` in one call."""

    def estimate(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> EffectEstimate: ...


class InSampleOnly(EffectEstimator):
    """Adapts a one-call ``estimate(X, t, y) -> EffectEstimate`` (a registered function, or an
    older class with only ``estimate``) to the contract. Its outputs exist only for the units it
    was fitted on: asking for other units raises :class:`NotProvided`."""

    def __init__(self, call: Callable[[np.ndarray, np.ndarray, np.ndarray], EffectEstimate], name: str = "estimator"):
        self.call, self.name_ = call, name

    def get_params(self) -> dict[str, Any]:
        return {}

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
        self.result_ = self.call(X, t, y).checked(len(y), self.name_)
        self.info_ = dict(self.result_.info)

    def _train_only(self, X: np.ndarray | None, what: str) -> EffectEstimate:
        if X is not None and not self._is_train(np.asarray(X, dtype=float)):
            raise NotProvided(f"{self.name_} gives {what} only for the units it was fitted on "
                              "(write it as an EffectEstimator class to score out of sample)")
        return self.result_

    def effect(self, X: np.ndarray) -> np.ndarray:
        r = self._train_only(X, "CATE estimates")
        if r.cate is None:
            raise self._missing("CATE estimates")
        return r.cate

    def effect_interval(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = self._train_only(X, "CATE intervals")
        if r.cate_lower is None or r.cate_upper is None:
            raise self._missing("CATE intervals")
        return r.cate_lower, r.cate_upper

    def ate(self, X: np.ndarray | None = None) -> float:
        r = self._train_only(X, "an ATE")
        if math.isnan(r.ate):
            raise self._missing("an ATE")
        return r.ate

    def ate_interval(self, X: np.ndarray | None = None) -> tuple[float, float]:
        r = self._train_only(X, "an ATE interval")
        if math.isnan(r.ate_lower) or math.isnan(r.ate_upper):
            raise self._missing("an ATE interval")
        return r.ate_lower, r.ate_upper

    def ite_interval(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = self._train_only(X, "ITE intervals")
        if r.ite_lower is None or r.ite_upper is None:
            raise self._missing("ITE intervals")
        return r.ite_lower, r.ite_upper


class _FunctionEstimator(InSampleOnly):
    """A function ``f(X, t, y, *, seed, **params)`` under the contract (outputs in sample only)."""

    def __init__(self, func: Callable[..., EffectEstimate], random_state: int = 0, name: str = "estimator",
                 **params: Any):
        self.func, self.random_state, self.params = func, random_state, dict(params)
        super().__init__(lambda X, t, y: func(X, t, y, seed=random_state, **params), name)

    def get_params(self) -> dict[str, Any]:
        return {"random_state": self.random_state, **self.params}


@dataclass(frozen=True)
class EstimatorInfo:
    """A registry entry: how to build an estimator and what it returns.

    ``factory(random_state=..., **params)`` returns an :class:`EffectEstimator` (a factory that
    takes ``seed`` instead, or returns an object with only ``estimate``, is adapted). ``causal``
    is False for the non-causal baselines (e.g. T-only OLS). ``requires`` lists importable
    modules; a missing one gives a clear error naming the package to install.
    """

    name: str
    factory: Callable[..., Any]
    outputs: frozenset[str]
    description: str = ""
    family: str = "custom"
    causal: bool = True
    requires: tuple[str, ...] = ()

    def missing_requirements(self) -> list[str]:
        """Modules in ``requires`` that cannot be imported here."""
        return [m for m in self.requires if importlib.util.find_spec(m) is None]

    def parameters(self) -> tuple[list[str], bool]:
        """The factory's parameter names (without the seed) and whether it takes any others (**kwargs)."""
        try:
            sig = inspect.signature(self.factory)
        except (TypeError, ValueError):
            return [], True
        names, open_ended = [], False
        for p in sig.parameters.values():
            if p.kind == p.VAR_KEYWORD:
                open_ended = True
            elif p.kind != p.VAR_POSITIONAL and p.name not in ("self", "random_state", "seed") and not p.name.startswith("_"):
                names.append(p.name)
        return names, open_ended

    def make(self, seed: int = 0, **params: Any) -> EffectEstimator:
        """Build a fresh estimator with ``random_state=seed`` and parameter overrides, checked now
        (an unknown parameter or bad value is an EstimatorError naming both)."""
        missing = self.missing_requirements()
        if missing:
            raise EstimatorError(
                f"estimator {self.name!r} needs {', '.join(missing)}; install it with "
                f"`pip install {' '.join(m.replace('_', '-') for m in missing)}`"
            )
        if "random_state" in params:
            seed = params.pop("random_state")
        check_random_state(self.name, seed)
        known, open_ended = self.parameters()
        if not open_ended:
            for key in params:
                if key not in known:
                    raise ParameterError(self.name, key, f"is not a parameter of this estimator; it takes: "
                                         f"{', '.join(known) or 'no parameters'} (and random_state)")
        try:
            sig_params = inspect.signature(self.factory).parameters
        except (TypeError, ValueError):
            sig_params = {}
        seed_arg = "seed" if "seed" in sig_params and "random_state" not in sig_params else "random_state"
        try:
            obj = self.factory(**{seed_arg: int(seed)}, **params)
        except ParameterError as exc:
            raise ParameterError(self.name, exc.parameter, exc.problem) from None
        except TypeError as exc:
            raise EstimatorError(f"estimator {self.name!r}: bad parameters {params}: {exc}") from None
        if not isinstance(obj, EffectEstimator):
            if not callable(getattr(obj, "estimate", None)):
                raise EstimatorError(f"estimator {self.name!r}: its factory returned {type(obj).__name__}, "
                                     "which has neither fit/effect nor estimate")
            obj = InSampleOnly(obj.estimate, self.name)
        obj.name_ = self.name
        return obj


_REGISTRY: dict[str, EstimatorInfo] = {}


def register_estimator(name: str, *, outputs: Iterable[str], description: str = "",
                       family: str = "custom", causal: bool = True, requires: Iterable[str] = (),
                       replace: bool = False) -> Callable[[Any], Any]:
    """Decorator: register a function ``f(X, t, y, *, seed, **params)`` or an estimator class.

    ``outputs`` declares which of ``OUTPUTS`` the estimator returns; the test suite holds every
    registered estimator to it. Registering an existing name raises unless ``replace=True``.
    """
    _check_outputs(name, outputs)

    def decorate(obj: Any) -> Any:
        if inspect.isclass(obj):
            factory = obj
        else:
            def factory(random_state: int = 0, _f: Callable[..., EffectEstimate] = obj, _name: str = name,
                        **params: Any) -> EffectEstimator:
                return _FunctionEstimator(_f, random_state, _name, **params)
            _accepts = [p.name for p in inspect.signature(obj).parameters.values()
                        if p.kind == p.KEYWORD_ONLY and p.name != "seed"]
            if not any(p.kind == p.VAR_KEYWORD for p in inspect.signature(obj).parameters.values()):
                factory.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
                    [inspect.Parameter("random_state", inspect.Parameter.KEYWORD_ONLY, default=0)]
                    + [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in _accepts])
        doc = description or (inspect.getdoc(obj) or "").split("\n")[0]
        register_factory(name, factory, outputs=outputs, description=doc, family=family,
                         causal=causal, requires=requires, replace=replace)
        return obj

    return decorate


def _check_outputs(name: str, outputs: Iterable[str]) -> frozenset[str]:
    outs = frozenset(outputs)
    unknown = outs - set(OUTPUTS)
    if unknown:
        raise EstimatorError(f"estimator {name!r}: unknown outputs {sorted(unknown)}; choose from {OUTPUTS}")
    return outs


def register_factory(name: str, factory: Callable[..., Any], *, outputs: Iterable[str],
                     description: str = "", family: str = "custom", causal: bool = True,
                     requires: Iterable[str] = (), replace: bool = False) -> EstimatorInfo:
    """Register ``factory(random_state=..., **params) -> EffectEstimator`` under ``name`` (see
    register_estimator)."""
    outs = _check_outputs(name, outputs)
    if name in _REGISTRY and not replace:
        raise EstimatorError(f"an estimator named {name!r} is already registered; "
                             f"pass replace=True to override it")
    info = EstimatorInfo(name=name, factory=factory, outputs=outs, description=description,
                         family=family, causal=causal, requires=tuple(requires))
    _REGISTRY[name] = info
    return info


def unregister_estimator(name: str) -> None:
    """Remove a registered estimator (tests and interactive sessions)."""
    _REGISTRY.pop(name, None)


def registry() -> dict[str, EstimatorInfo]:
    """All registered estimators by name (built-ins are registered on import of sdscm.estimators)."""
    return dict(_REGISTRY)


def get_estimator(name: str) -> EstimatorInfo:
    """The registry entry for ``name``, or an error listing the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise EstimatorError(
            f"unknown estimator {name!r}; known: {', '.join(sorted(_REGISTRY))}"
        ) from None


def make_estimator(name: str, seed: int = 0, **params: Any) -> EffectEstimator:
    """Build a registered estimator by name (``seed`` becomes its ``random_state``)."""
    return get_estimator(name).make(seed=seed, **params)


@dataclass(frozen=True)
class EstimatorConfig:
    """One entry of an evaluation: a registered estimator, its parameters and covariate encoding.

    ``label`` names the results row (default: the estimator name); ``key`` identifies the
    configuration for resuming, so changing parameters or encoding re-runs it. ``test_fraction``
    (None: the paper's in-sample protocol) holds out that share of each dataset's units: the
    estimator is fitted on the rest and scored on them.
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    encoding: Encoding = "index"
    label: str | None = None
    test_fraction: float | None = None

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            raise EstimatorError(f"estimator {self.display}: encoding must be one of {ENCODINGS}, "
                                 f"got {self.encoding!r}")
        if self.test_fraction is not None and not (isinstance(self.test_fraction, (int, float))
                                                   and 0 < self.test_fraction < 1):
            raise EstimatorError(f"estimator {self.display}: test_fraction (--test-fraction) must be a number "
                                 f"strictly between 0 and 1, got {self.test_fraction!r}")

    @property
    def scope(self) -> str:
        """Where outputs are scored: ``in-sample`` or ``held-out 30%``."""
        return "in-sample" if self.test_fraction is None else f"held-out {self.test_fraction:.0%}"

    @property
    def display(self) -> str:
        return self.label or self.name

    @property
    def key(self) -> str:
        """Short stable hash of (name, params, encoding)."""
        parts: list[Any] = [self.name, dict(self.params), self.encoding]
        if self.test_fraction is not None:  # in-sample keys stay as they were, so old results resume
            parts.append({"test_fraction": self.test_fraction})
        blob = json.dumps(parts, sort_keys=True, default=repr)
        return hashlib.sha1(blob.encode()).hexdigest()[:12]

    def build(self, seed: int) -> EffectEstimator:
        return make_estimator(self.name, seed=seed, **dict(self.params))


def encode_covariates(X: np.ndarray, categories: list[int] | None, encoding: str) -> np.ndarray:
    """Covariates as value indices (``index``, unchanged) or dummy-coded (``onehot``).

    ``onehot`` makes one 0/1 column per covariate value, then drops, per covariate, the most
    frequent value (the reference level) and any value absent from this sample. The design stays
    full-rank next to an intercept, so linear learners get identified coefficients; trees are
    unaffected (a dropped level is the all-zero pattern).
    """
    if encoding == "index":
        return np.asarray(X, dtype=float)
    if encoding != "onehot":
        raise EstimatorError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    X = np.asarray(X)
    n, p = X.shape
    if categories is None:
        categories = [int(np.max(X[:, j])) + 1 if n else 1 for j in range(p)]
    blocks = []
    for j, k in enumerate(categories):
        codes = X[:, j].astype(np.int64)
        counts = np.bincount(codes, minlength=k)
        keep = [v for v in range(k) if counts[v] > 0 and v != int(np.argmax(counts))]
        if keep:
            blocks.append((codes[:, None] == np.asarray(keep)[None, :]).astype(float))
    return np.hstack(blocks) if blocks else np.zeros((n, 0))
