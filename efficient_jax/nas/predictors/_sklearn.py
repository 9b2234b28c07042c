"""scikit-learn predictors (GBDT, random forest, MLP) behind the same ``fit/predict`` interface.

The WeakNAS paper uses XGBoost GBRT (1000 trees), a 1000-tree random forest and
``MLPRegressor(hidden_layer_sizes=(1000,)*4)`` (the official code's default predictor).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

_KINDS = ("gbdt", "rf", "mlp")


@dataclasses.dataclass(frozen=True)
class SklearnPredictor:
    """``kind`` in ``('gbdt', 'rf', 'mlp')``; ``kwargs`` go to the scikit-learn estimator.

    ``predict`` returns ``(mean, std)``; std is the spread over trees for ``rf`` and 0 otherwise.

    Example:
        >>> import jax, numpy as np
        >>> x = np.random.default_rng(0).normal(size=(50, 3)); y = x.sum(1)
        >>> p = SklearnPredictor("rf", {"n_estimators": 20})
        >>> mean, std = p.predict(p.fit(x, y, key=jax.random.key(0)), x)
        >>> mean.shape
        (50,)
    """

    kind: str = "gbdt"
    kwargs: Any = None

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise ValueError(f"Unknown sklearn predictor {self.kind!r}; valid: {_KINDS}.")

    def _make(self, seed: int):
        from sklearn import ensemble, neural_network

        kw = dict(self.kwargs or {})
        if self.kind == "gbdt":
            kw.setdefault("n_estimators", 1000)
            return ensemble.GradientBoostingRegressor(random_state=seed, **kw)
        if self.kind == "rf":
            kw.setdefault("n_estimators", 1000)
            return ensemble.RandomForestRegressor(random_state=seed, **kw)
        kw.setdefault("hidden_layer_sizes", (1000,) * 4)
        return neural_network.MLPRegressor(random_state=seed, **kw)

    def fit(self, x, y, *, key: jax.Array):
        x, y = np.asarray(x), np.asarray(y, np.float64)
        if x.ndim != 2 or y.shape != x.shape[:1] or x.shape[0] == 0:
            raise ValueError(f"fit needs x (n, d) and y (n,) with n > 0; got {x.shape}, {y.shape}.")
        seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
        mean, std = y.mean(), y.std() + 1e-8
        model = self._make(seed)
        model.fit(x, (y - mean) / std)
        return model, mean, std

    def predict(self, state, x) -> tuple[np.ndarray, np.ndarray]:
        model, mean, std = state
        x = np.asarray(x)
        pred = model.predict(x) * std + mean
        if self.kind == "rf":
            per_tree = np.stack([t.predict(x) for t in model.estimators_])
            return pred, per_tree.std(0) * std
        return pred, np.zeros_like(pred)
