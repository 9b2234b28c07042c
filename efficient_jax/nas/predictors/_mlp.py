"""MLP performance predictor in JAX, trained with Adam; vmaps over an ensemble and over runs.

The defaults mirror the WeakNAS official code, which uses scikit-learn's
``MLPRegressor(hidden_layer_sizes=(1000,)*4)``: ReLU, Glorot-uniform init, Adam (lr 1e-3),
L2 penalty ``alpha/(2 n_batch)·‖W‖²`` with alpha 1e-4, minibatches of ``min(200, n)``, at most 200
epochs. With ``n_iter_no_change=10`` training also stops by scikit-learn's rule (the epoch loss did
not improve on the best by more than ``tol`` for more than 10 epochs), which is what the official
code runs; the default (``None``) always trains all epochs. Labels are z-scored inside
:func:`mlp_fit`.

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


_BUCKET = 64


@functools.partial(
    jax.jit,
    static_argnames=(
        "hidden", "epochs", "batch_size", "learning_rate", "l2", "tol", "n_iter_no_change"
    ),
)  # fmt: skip
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
    tol: float = 1e-4,
    n_iter_no_change: int | None = None,
) -> tuple[list[dict], jax.Array, jax.Array]:
    """Fits one MLP on the rows of ``x`` where ``mask`` is True (padding rows are ignored).

    Pure and jittable; ``jax.vmap`` it over keys (ensembles) and over ``x, y, mask`` (runs).

    Args:
      key: PRNG key (init and minibatch draws).
      x: ``(n, d)`` encodings; y: ``(n,)`` labels; mask: ``(n,)`` valid rows.
      hidden, epochs, batch_size, learning_rate, l2: as sklearn's ``MLPRegressor`` (``epochs`` is
        its ``max_iter``).
      tol, n_iter_no_change: sklearn's stopping rule on the epoch training loss; ``None`` trains
        all ``epochs``. Under ``vmap`` each member stops at its own epoch (finished members are
        held fixed while the others go on).

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
        loss, g = jax.value_and_grad(loss_fn)(p, xb, yb, wb)
        upd, s = opt.update(g, s, p)
        return (optax.apply_updates(p, upd), s), loss

    carry = (params, opt.init(params))
    if n_iter_no_change is None:
        (params, _), _ = jax.lax.scan(step, carry, jax.random.split(k_loop, steps))
        return params, y_mean, y_std

    per_epoch = steps // epochs

    def epoch_cond(state):
        _, epoch, _, bad, _ = state
        return (epoch < epochs) & (bad <= n_iter_no_change)

    def epoch_body(state):
        carry, epoch, best, bad, k = state
        k, k_epoch = jax.random.split(k)
        carry, losses = jax.lax.scan(step, carry, jax.random.split(k_epoch, per_epoch))
        loss = losses.mean()
        bad = jnp.where(loss > best - tol, bad + 1, 0)
        return carry, epoch + 1, jnp.minimum(best, loss), bad, k

    init = (carry, jnp.int32(0), jnp.float32(jnp.inf), jnp.int32(0), k_loop)
    (params, _), *_ = jax.lax.while_loop(epoch_cond, epoch_body, init)
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
    tol: float = 1e-4
    n_iter_no_change: int | None = None

    def _kwargs(self):
        return dict(
            hidden=tuple(self.hidden),
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            l2=self.l2,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
        )

    def fit(self, x, y, *, key: jax.Array):
        x = jnp.asarray(x, jnp.float32)
        y = jnp.asarray(y, jnp.float32)
        if x.ndim != 2 or y.shape != x.shape[:1] or x.shape[0] == 0:
            raise ValueError(f"fit needs x (n, d) and y (n,) with n > 0; got {x.shape}, {y.shape}.")
        n = len(y)
        # Pad rows to a bucket so that a search growing n by a few rows per iteration reuses one
        # compilation per bucket; padding rows are masked out. Up to ``batch_size`` the bucket
        # is capped so that full-batch training (and its result) is unchanged.
        size = -(-n // _BUCKET) * _BUCKET
        size = min(size, self.batch_size) if n <= self.batch_size else size
        x = jnp.zeros((size, x.shape[1]), x.dtype).at[:n].set(x)
        y = jnp.zeros(size, y.dtype).at[:n].set(y)
        mask = jnp.arange(size) < n
        keys = jax.random.split(key, self.ensemble)
        fit = functools.partial(mlp_fit, **self._kwargs())
        return jax.vmap(fit, in_axes=(0, None, None, None))(keys, x, y, mask)

    def predict(self, state, x) -> tuple[np.ndarray, np.ndarray]:
        params, m, s = state
        preds = jax.vmap(mlp_predict, in_axes=(0, 0, 0, None))(
            params, m, s, jnp.asarray(x, jnp.float32)
        )
        return np.asarray(preds.mean(0)), np.asarray(preds.std(0))
