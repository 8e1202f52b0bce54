"""Opt-in neural CATE learners from ``catenets`` (TNet, TARNet); not part of any preset.

The paper ran catenets' JAX TNet and SNet1 (= TARNet). Here their PyTorch versions run
(``catenets.models.torch.TLearner`` with its default network, and ``TARNet``), so no JAX is
needed. They take about 10-15 s per fit on two CPU cores, so they are only an extra:
``pip install --no-deps catenets==0.2.4 loguru gdown`` (``--no-deps`` keeps the installed torch
and skips JAX), then name them with ``--estimators TNet,TARNet``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sdscm.estimators.base import EffectEstimator, check_choice, check_random_state, register_factory


TORCH_CLASSES = {"TNet": "TLearner", "TARNet": "TARNet"}


class CATENet(EffectEstimator):
    """A catenets torch learner: ``fit(X, y, w)``, ``predict(X)`` gives per-unit CATE."""

    def __init__(self, model: str, random_state: int = 0, **params: Any):
        name = type(self).__name__
        self.model = check_choice(name, "model", TORCH_CLASSES.get(model, model), tuple(TORCH_CLASSES.values()))
        self.random_state, self.params = check_random_state(name, random_state), params

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
        import catenets.logger  # noqa: F401  (quiet its loguru sink before the models import)
        import catenets.models.torch as nets
        import torch

        torch.manual_seed(self.random_state)
        self.learner_ = getattr(nets, self.model)(n_unit_in=X.shape[1], binary_y=False,
                                                  **{"seed": self.random_state, **self.params})
        self.learner_.fit(X, y, t.astype(float))

    def effect(self, X: np.ndarray) -> np.ndarray:
        self._fitted()
        cate = self.learner_.predict(np.asarray(X, dtype=float))
        return cate.detach().cpu().numpy().reshape(-1) if hasattr(cate, "detach") else np.asarray(cate).reshape(-1)


for _name, _doc in (("TNet", "catenets TNet: one neural network per arm (opt-in extra)."),
                    ("TARNet", "catenets TARNet (the paper's SNet1): shared representation, two heads (opt-in extra).")):
    register_factory(_name, lambda random_state=0, _m=_name, **p: CATENet(_m, random_state, **p),
                     outputs={"ate", "cate"}, family="neural", requires=("catenets",), description=_doc)
