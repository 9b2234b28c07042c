"""Performance predictors behind one interface: ``state = p.fit(x, y, key=k)``,
``mean, std = p.predict(state, x)``.

Example:
    >>> import jax, numpy as np
    >>> from efficient_jax.nas.predictors import GPPredictor
    >>> x = np.eye(4, dtype=np.float32)
    >>> mean, std = GPPredictor().predict(GPPredictor().fit(x, np.arange(4.0)), x)
    >>> mean.shape
    (4,)
"""

from efficient_jax.nas.predictors._gp import GPPredictor, gp_posterior
from efficient_jax.nas.predictors._mlp import (
    MLPPredictor,
    mlp_apply,
    mlp_fit,
    mlp_init,
    mlp_predict,
)
from efficient_jax.nas.predictors._sklearn import SklearnPredictor

__all__ = [
    "GPPredictor",
    "MLPPredictor",
    "SklearnPredictor",
    "gp_posterior",
    "mlp_apply",
    "mlp_fit",
    "mlp_init",
    "mlp_predict",
]
