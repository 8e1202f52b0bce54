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

from sdscm.estimators.base import EffectEstimate, register_factory


TORCH_CLASSES = {"TNet": "TLearner", "TARNet": "TARNet"}


class CATENet:
    """A catenets torch learner: ``fit(X, y, w)``, ``predict(X)`` gives per-unit CATE."""

    def __init__(self, model: str, seed: int = 0, **params: Any):
        self.model, self.seed, self.params = TORCH_CLASSES.get(model, model), seed, params

    def estimate(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> EffectEstimate:
        import catenets.logger  # noqa: F401  (quiet its loguru sink before the models import)
        import catenets.models.torch as nets
        import torch

        torch.manual_seed(self.seed)
        learner = getattr(nets, self.model)(n_unit_in=X.shape[1], binary_y=False,
                                            **{"seed": self.seed, **self.params})
        learner.fit(np.asarray(X, dtype=float), np.asarray(y, dtype=float), np.asarray(t, dtype=float))
        cate = learner.predict(np.asarray(X, dtype=float))
        cate = cate.detach().cpu().numpy() if hasattr(cate, "detach") else np.asarray(cate)
        return EffectEstimate.from_cate(cate)


for _name, _doc in (("TNet", "catenets TNet: one neural network per arm (opt-in extra)."),
                    ("TARNet", "catenets TARNet (the paper's SNet1): shared representation, two heads (opt-in extra).")):
    register_factory(_name, lambda seed=0, _m=_name, **p: CATENet(_m, seed, **p), outputs={"ate", "cate"},
                     family="neural", requires=("catenets",), description=_doc)
