"""MLP performance predictor in JAX, trained with Adam; vmaps over an ensemble and over runs.

The defaults mirror the WeakNAS official code, which uses scikit-learn's
``MLPRegressor(hidden_layer_sizes=(1000,)*4)``: ReLU, Glorot-uniform init, Adam (lr 1e-3),
L2 penalty ``alpha/(2 n_batch)·‖W‖²`` with alpha 1e-4, minibatches of ``min(200, n)``, 200 epochs.
Labels are z-scored inside :func:`mlp_fit`.

Reference: Wu et al., "Stronger NAS with Weaker Predictors" (WeakNAS), NeurIPS 2021.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax


def mlp_init(key: jax.Array, in_dim: int, hidden: tuple[int, ...]) -> list[dict]:
    """Glorot-uniform weights and zero biases (sklearn's initialisation)."""
    sizes = (in_dim, *hidden, 1)
    params = []
    for k, (a, b) in zip(jax.random.split(key, len(sizes) - 1), zip(sizes[:-1], sizes[1:])):
        bound = math.sqrt(6.0 / (a + b))
        params.append(
            {"w": jax.random.uniform(k, (a, b), jnp.float32, -bound, bound), "b": jnp.zeros(b)}
        )
    return params


def mlp_apply(params: list[dict], x: jax.Array) -> jax.Array:
    for layer in params[:-1]:
        x = jax.nn.relu(x @ layer["w"] + layer["b"])
    return (x @ params[-1]["w"] + params[-1]["b"])[..., 0]


@functools.partial(
    jax.jit, static_argnames=("hidden", "epochs", "batch_size", "learning_rate", "l2")
)
def mlp_fit(
    key: jax.Array,
    x: jax.Array,
    y: jax.Array,
    mask: jax.Array,
    *,
    hidden: tuple[int, ...] = (1000, 1000, 1000, 1000),
    epochs: int = 200,
    batch_size: int = 200,
    learning_rate: float = 1e-3,
    l2: float = 1e-4,
) -> tuple[list[dict], jax.Array, jax.Array]:
    """Fits one MLP on the rows of ``x`` where ``mask`` is True (padding rows are ignored).

    Pure and jittable; ``jax.vmap`` it over keys (ensembles) and over ``x, y, mask`` (runs).

    Args:
      key: PRNG key (init and minibatch draws).
      x: ``(n, d)`` encodings; y: ``(n,)`` labels; mask: ``(n,)`` valid rows.
      hidden, epochs, batch_size, learning_rate, l2: as sklearn's ``MLPRegressor``.

    Returns:
      ``(params, y_mean, y_std)``; predictions are ``mlp_apply(params, x) * y_std + y_mean``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> x = jax.random.normal(jax.random.key(0), (32, 4)); y = x.sum(1)
        >>> p, m, s = mlp_fit(jax.random.key(1), x, y, jnp.ones(32, bool), hidden=(16,), epochs=300)
        >>> bool(jnp.corrcoef(mlp_apply(p, x) * s + m, y)[0, 1] > 0.9)
        True
    """
    n = x.shape[0]
    maskf = mask.astype(jnp.float32)
    count = jnp.maximum(maskf.sum(), 1.0)
    y_mean = (y * maskf).sum() / count
    y_std = jnp.sqrt((((y - y_mean) * maskf) ** 2).sum() / count) + 1e-8
    yz = (y - y_mean) / y_std
    bs = min(batch_size, n)
    steps = epochs * math.ceil(n / bs)
    k_init, k_loop = jax.random.split(key)
    params = mlp_init(k_init, x.shape[1], hidden)
    opt = optax.adam(learning_rate)
    probs = maskf / count

    def loss_fn(p, xb, yb, wb):
        err = (mlp_apply(p, xb) - yb) ** 2
        data = 0.5 * (err * wb).sum() / jnp.maximum(wb.sum(), 1.0)
        reg = sum((layer["w"] ** 2).sum() for layer in p)
        return data + 0.5 * l2 * reg / jnp.maximum(wb.sum(), 1.0)

    def step(carry, k):
        p, s = carry
        if bs >= n:  # full batch: every valid row once
            xb, yb, wb = x, yz, maskf
        else:
            idx = jax.random.choice(k, n, (bs,), p=probs)
            xb, yb, wb = x[idx], yz[idx], jnp.ones(bs)
        g = jax.grad(loss_fn)(p, xb, yb, wb)
        upd, s = opt.update(g, s, p)
        return (optax.apply_updates(p, upd), s), None

    (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), jax.random.split(k_loop, steps))
    return params, y_mean, y_std


@jax.jit
def mlp_predict(params: list[dict], y_mean: jax.Array, y_std: jax.Array, x: jax.Array) -> jax.Array:
    """Predictions in label units."""
    return mlp_apply(params, x) * y_std + y_mean


@dataclasses.dataclass(frozen=True)
class MLPPredictor:
    """``fit/predict`` wrapper around :func:`mlp_fit`; ``ensemble > 1`` vmaps independent members.

    Example:
        >>> import jax, numpy as np
        >>> x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
        >>> pred = MLPPredictor(hidden=(32, 32), epochs=100, ensemble=3)
        >>> state = pred.fit(x, x.sum(1), key=jax.random.key(0))
        >>> mean, std = pred.predict(state, x)
        >>> mean.shape, std.shape
        ((40,), (40,))
    """

    hidden: tuple[int, ...] = (1000, 1000, 1000, 1000)
    epochs: int = 200
    batch_size: int = 200
    learning_rate: float = 1e-3
    l2: float = 1e-4
    ensemble: int = 1

    def _kwargs(self):
        return dict(
            hidden=tuple(self.hidden),
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            l2=self.l2,
        )

    def fit(self, x, y, *, key: jax.Array):
        x = jnp.asarray(x, jnp.float32)
        y = jnp.asarray(y, jnp.float32)
        if x.ndim != 2 or y.shape != x.shape[:1] or x.shape[0] == 0:
            raise ValueError(f"fit needs x (n, d) and y (n,) with n > 0; got {x.shape}, {y.shape}.")
        keys = jax.random.split(key, self.ensemble)
        fit = functools.partial(mlp_fit, **self._kwargs())
        return jax.vmap(fit, in_axes=(0, None, None, None))(keys, x, y, jnp.ones(len(y), bool))

    def predict(self, state, x) -> tuple[np.ndarray, np.ndarray]:
        params, m, s = state
        preds = jax.vmap(mlp_predict, in_axes=(0, 0, 0, None))(
            params, m, s, jnp.asarray(x, jnp.float32)
        )
        return np.asarray(preds.mean(0)), np.asarray(preds.std(0))
