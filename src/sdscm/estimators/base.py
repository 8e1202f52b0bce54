"""The estimator protocol, its result type, covariate encodings and the registry.

An estimator sees only what a practitioner would see, ``X`` (n x p), ``t`` (0/1) and ``y``, and
returns an :class:`EffectEstimate`: an ATE with an interval where the method gives one, per-unit
CATE estimates, and per-unit intervals (for the CATE, or predictive intervals for the ITE).
Metrics compare those with the benchmark's exact potential outcomes; estimators never see them.

Adding an estimator takes a few lines::

    from sdscm.estimators import EffectEstimate, register_estimator

    @register_estimator("DiffMeans", outputs={"ate", "cate"}, causal=False)
    def diff_means(X, t, y, *, seed):
        ate = y[t == 1].mean() - y[t == 0].mean()
        return EffectEstimate.constant(ate, n=len(y))

A class works too: ``__init__(self, seed, **params)`` and ``estimate(self, X, t, y)``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import math
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


@runtime_checkable
class Estimator(Protocol):
    """Anything with ``estimate(X, t, y) -> EffectEstimate`` (fits and predicts on the same units)."""

    def estimate(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> EffectEstimate: ...


class _FunctionEstimator:
    """Adapts a function ``f(X, t, y, *, seed, **params)`` to the Estimator protocol."""

    def __init__(self, func: Callable[..., EffectEstimate], seed: int, params: Mapping[str, Any]):
        self.func, self.seed, self.params = func, seed, dict(params)

    def estimate(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> EffectEstimate:
        return self.func(X, t, y, seed=self.seed, **self.params)


@dataclass(frozen=True)
class EstimatorInfo:
    """A registry entry: how to build an estimator and what it returns.

    ``factory(seed=..., **params)`` returns an object with ``estimate``. ``causal`` is False for the
    non-causal baselines (e.g. T-only OLS). ``requires`` lists importable modules; a missing one
    gives a clear error naming the package to install.
    """

    name: str
    factory: Callable[..., Estimator]
    outputs: frozenset[str]
    description: str = ""
    family: str = "custom"
    causal: bool = True
    requires: tuple[str, ...] = ()

    def missing_requirements(self) -> list[str]:
        """Modules in ``requires`` that cannot be imported here."""
        return [m for m in self.requires if importlib.util.find_spec(m) is None]

    def make(self, seed: int = 0, **params: Any) -> Estimator:
        """Build a fresh estimator with a fixed seed (and parameter overrides)."""
        missing = self.missing_requirements()
        if missing:
            raise EstimatorError(
                f"estimator {self.name!r} needs {', '.join(missing)}; install it with "
                f"`pip install {' '.join(m.replace('_', '-') for m in missing)}`"
            )
        try:
            return self.factory(seed=seed, **params)
        except TypeError as exc:
            raise EstimatorError(f"estimator {self.name!r}: bad parameters {params}: {exc}") from None


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
            def factory(seed: int = 0, _f: Callable[..., EffectEstimate] = obj, **params: Any) -> Estimator:
                return _FunctionEstimator(_f, seed, params)
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


def register_factory(name: str, factory: Callable[..., Estimator], *, outputs: Iterable[str],
                     description: str = "", family: str = "custom", causal: bool = True,
                     requires: Iterable[str] = (), replace: bool = False) -> EstimatorInfo:
    """Register ``factory(seed=..., **params) -> Estimator`` under ``name`` (see register_estimator)."""
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


def make_estimator(name: str, seed: int = 0, **params: Any) -> Estimator:
    """Build a registered estimator by name."""
    return get_estimator(name).make(seed=seed, **params)


@dataclass(frozen=True)
class EstimatorConfig:
    """One entry of an evaluation: a registered estimator, its parameters and covariate encoding.

    ``label`` names the results row (default: the estimator name); ``key`` identifies the
    configuration for resuming, so changing parameters or encoding re-runs it.
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    encoding: Encoding = "index"
    label: str | None = None

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            raise EstimatorError(f"estimator {self.display}: encoding must be one of {ENCODINGS}, "
                                 f"got {self.encoding!r}")

    @property
    def display(self) -> str:
        return self.label or self.name

    @property
    def key(self) -> str:
        """Short stable hash of (name, params, encoding)."""
        blob = json.dumps([self.name, dict(self.params), self.encoding], sort_keys=True, default=repr)
        return hashlib.sha1(blob.encode()).hexdigest()[:12]

    def build(self, seed: int) -> Estimator:
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
