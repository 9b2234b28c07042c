"""Bilevel search on a masked supernet: DARTS 1st/2nd order, GDAS, NA-DARTS, FBNet cost term.

References: Liu et al., "DARTS", ICLR 2019 (Eq. 1 relaxation, Eqs. 6-8 unrolled gradient with the
finite-difference Hessian-vector product; Bai thesis Eqs. 2.19-2.20); GDAS (Dong & Yang 2019);
NA-DARTS (Wang thesis Ch. 3, Eq. 3.5, Algorithm 3); FBNet (Wu et al. 2019, latency lookup table in
the loss; spec 004 #3).

The search state is a plain dict ``{"params": {"alpha", "net"}, "batch_stats", "opt_state",
"step"}``. α (``(6, 5)`` logits) and the network weights live in one params pytree and get
*separate optimizers* through ``optax.partition`` (:func:`darts_optimizer`): the architecture
optimizer only ever sees α's gradient (validation loss) and the weight optimizer only the weights'
gradient (training loss). Both gradients are taken at the current ``(w, α)`` and applied in one
update (simultaneous alternation).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from efficient_jax.core import match_rules
from efficient_jax.nas.spaces import NB201_EDGES, NB201_OPS
from efficient_jax.nas.supernet._gdas import gumbel_softmax, tau_schedule
from efficient_jax.nas.supernet._neighbours import PERTURBATIONS, neighbour_weights

SEARCH_METHODS = ("darts", "darts2", "gdas", "nadarts", "tanglenas")
_AGGREGATES = ("mean", "max")
_COST_KINDS = ("additive", "fbnet")


def init_alpha(key: jax.Array, scale: float = 1e-3) -> jax.Array:
    """DARTS' α init: ``scale · N(0, 1)`` logits of shape ``(6, 5)``."""
    return scale * jax.random.normal(key, (len(NB201_EDGES), len(NB201_OPS)), jnp.float32)


def arch_labels(params: Any) -> Any:
    """``"arch"`` for the top-level ``alpha`` leaf, ``"weights"`` for everything else."""
    return match_rules(params, [(r"^alpha$", "arch"), (r".*", "weights")], warn_unused=False)


def darts_optimizer(
    weight_opt: optax.GradientTransformation, arch_opt: optax.GradientTransformation
) -> optax.GradientTransformation:
    """``optax.partition`` of the weight optimizer (SGD in DARTS) and the α optimizer (Adam).

    Example:
        >>> import jax.numpy as jnp, optax
        >>> opt = darts_optimizer(optax.sgd(0.1), optax.adam(1e-2))
        >>> p = {"alpha": jnp.zeros((6, 5)), "net": {"w": jnp.ones(3)}}
        >>> g = {"alpha": jnp.ones((6, 5)), "net": {"w": jnp.ones(3)}}
        >>> u, _ = opt.update(g, opt.init(p), p)
        >>> round(float(u["net"]["w"][0]), 3), round(float(u["alpha"][0, 0]), 3)
        (-0.1, -0.01)
    """
    return optax.partition({"arch": arch_opt, "weights": weight_opt}, arch_labels)


def darts_search_optimizer(
    *,
    num_steps: int,
    weight_lr: float = 0.025,
    weight_decay: float = 3e-4,
    grad_clip: float = 5.0,
    arch_lr: float = 3e-4,
    arch_weight_decay: float = 1e-3,
) -> optax.GradientTransformation:
    """DARTS' optimizers (its and NB201's search settings) as one :func:`darts_optimizer`.

    Weights: global-norm clipping at ``grad_clip``, weight decay, SGD momentum 0.9 with the
    learning rate cosine-decayed over ``num_steps`` from ``weight_lr`` to ``0.04 · weight_lr``
    (0.025 → 0.001); α: weight decay ``arch_weight_decay``, Adam(``arch_lr``, β = (0.5, 0.999)).

    Example:
        >>> import jax.numpy as jnp
        >>> opt = darts_search_optimizer(num_steps=10)
        >>> p = {"alpha": jnp.zeros((6, 5)), "net": {"w": jnp.ones(3)}}
        >>> u, _ = opt.update(p, opt.init(p), p)
        >>> round(float(u["net"]["w"][0]), 6)
        -0.025008
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}.")
    sched = optax.cosine_decay_schedule(weight_lr, num_steps, 0.001 / 0.025)
    weight_opt = optax.chain(
        optax.clip_by_global_norm(grad_clip),
        optax.add_decayed_weights(weight_decay),
        optax.sgd(sched, momentum=0.9),
    )
    arch_opt = optax.chain(
        optax.add_decayed_weights(arch_weight_decay),
        optax.adam(arch_lr, b1=0.5, b2=0.999),
    )
    return darts_optimizer(weight_opt, arch_opt)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SearchSpec:
    """Static settings of one search method.

    Attributes:
      method: one of ``SEARCH_METHODS`` (``tanglenas`` = DARTS mixing on an entangled supernet;
        the entanglement itself is the model's ``edge_cls``).
      xi: unrolled weight step ξ of second-order DARTS (DARTS uses the weight learning rate).
      num_steps: search length, for GDAS' temperature schedule.
      tau_max / tau_min: GDAS temperature range (10 → 0.1 in GDAS).
      n_nbr / d / eps / perturbation / aggregate: NA-DARTS neighbours (Wang Ch. 3: n_nbr=10,
        ε=0.1, additive perturbation with mean aggregation, multiplicative with max).
      cost_table: per-op cost lookup table ``(5,)`` (e.g. :func:`nb201_op_cost_table`), or None.
      cost_weight: λ of the cost term; 0 disables it.
      cost_kind: ``additive``: ``L + λ·E[cost]/max_cost``; ``fbnet``: FBNet's
        ``L · λ·(log E[cost])^β`` with β = ``cost_exponent`` (cost in the table's units, > 1).
    """

    method: str = "darts"
    xi: float = 0.0
    num_steps: int = 1
    tau_max: float = 10.0
    tau_min: float = 0.1
    n_nbr: int = 4
    d: int = 3
    eps: float = 0.1
    perturbation: str = "additive"
    aggregate: str = "mean"
    cost_table: tuple[float, ...] | None = None
    cost_weight: float = 0.0
    cost_kind: str = "additive"
    cost_exponent: float = 0.6

    def __post_init__(self):
        if self.method not in SEARCH_METHODS:
            raise ValueError(f"Unknown search method {self.method!r}; valid: {SEARCH_METHODS}.")
        if self.perturbation not in PERTURBATIONS:
            raise ValueError(f"Unknown perturbation {self.perturbation!r}; valid: {PERTURBATIONS}.")
        if self.aggregate not in _AGGREGATES:
            raise ValueError(f"Unknown aggregate {self.aggregate!r}; valid: {_AGGREGATES}.")
        if self.cost_kind not in _COST_KINDS:
            raise ValueError(f"Unknown cost_kind {self.cost_kind!r}; valid: {_COST_KINDS}.")
        if self.cost_table is not None and len(self.cost_table) != len(NB201_OPS):
            raise ValueError(
                f"cost_table needs one entry per op {NB201_OPS}, got {len(self.cost_table)}."
            )
        if self.cost_weight and self.cost_table is None:
            raise ValueError("cost_weight > 0 needs a cost_table.")
        if self.method == "darts2" and self.xi <= 0:
            raise ValueError(f"darts2 needs xi > 0 (the unrolled step), got {self.xi}.")
        if not 1 <= self.d <= len(NB201_EDGES) or self.n_nbr < 1:
            raise ValueError(f"need 1 <= d <= 6 and n_nbr >= 1, got d={self.d}, n={self.n_nbr}.")


def expected_cost(weights: jax.Array, table: jax.Array) -> jax.Array:
    """``Σ_e Σ_o p[e, o] · LUT[o]``: FBNet's expected cost of the relaxed architecture."""
    return jnp.sum(weights * table[None, :])


def _xent(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def make_search_step(
    model: nn.Module, spec: SearchSpec, optimizer: optax.GradientTransformation
) -> Callable[..., tuple[dict, dict]]:
    """``step(state, train_batch, val_batch, key) -> (state, metrics)`` for ``spec.method``.

    ``model.apply(variables, images, arch_weights, train=True, mutable=["batch_stats"])`` must work
    (:class:`NB201Supernet`). Jit the returned function. Weights are trained on
    ``softmax(α)`` (GDAS: on a Gumbel sample), α on the validation batch: DARTS 1st order uses
    ``∇_α L_val(w, α)``, 2nd order the unrolled gradient with the finite-difference Hessian-vector
    product (DARTS Eq. 8, ε = 0.01/‖∇_w' L_val‖), NA-DARTS the mean (or max, by Danskin) of
    ``L_val`` over α and ``n_nbr - 1`` perturbed neighbours.
    """
    table = None if spec.cost_table is None else jnp.asarray(spec.cost_table, jnp.float32)

    def loss_fn(net, stats, w, batch):
        variables = {"params": net, "batch_stats": stats}
        logits, upd = model.apply(variables, batch["image"], w, train=True, mutable=["batch_stats"])
        acc = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
        return _xent(logits, batch["label"]), (upd["batch_stats"], acc)

    def relax(alpha, key, step):
        if spec.method == "gdas":
            tau = tau_schedule(step, spec.num_steps, spec.tau_max, spec.tau_min)
            return gumbel_softmax(alpha, key=key, tau=tau)
        return jax.nn.softmax(alpha, axis=-1)

    def cost_term(alpha, loss):
        if table is None or not spec.cost_weight:
            return loss
        c = expected_cost(jax.nn.softmax(alpha, axis=-1), table)
        if spec.cost_kind == "additive":
            return loss + spec.cost_weight * c / (len(NB201_EDGES) * jnp.max(table))
        return loss * spec.cost_weight * jnp.log(c) ** spec.cost_exponent

    def arch_loss(alpha, net, stats, batch, key, step):
        k_relax, k_nbr = jax.random.split(key)
        w = relax(alpha, k_relax, step)
        if spec.method != "nadarts":
            return cost_term(alpha, loss_fn(net, stats, w, batch)[0])
        nbrs = neighbour_weights(
            w, key=k_nbr, n_nbr=spec.n_nbr, d=spec.d, kind=spec.perturbation, eps=spec.eps
        )
        if spec.aggregate == "mean":
            losses = jax.lax.map(lambda wn: loss_fn(net, stats, wn, batch)[0], nbrs)
            return cost_term(alpha, jnp.mean(losses))
        # max: Danskin's theorem: pick the worst neighbour without gradient, differentiate it.
        losses = jax.lax.map(
            lambda wn: loss_fn(net, stats, wn, batch)[0], jax.lax.stop_gradient(nbrs)
        )
        worst = nbrs[jnp.argmax(losses)]
        return cost_term(alpha, loss_fn(net, stats, worst, batch)[0])

    def train_loss_alpha(alpha, net, stats, batch):
        return loss_fn(net, stats, jax.nn.softmax(alpha, axis=-1), batch)[0]

    def unrolled_grad(alpha, net, stats, train_b, val_b, key, step):
        xi = spec.xi
        g_w = jax.grad(train_loss_alpha, argnums=1)(alpha, net, stats, train_b)
        net1 = jax.tree.map(lambda p, g: p - xi * g, net, g_w)
        val, (g_a, g_w1) = jax.value_and_grad(arch_loss, argnums=(0, 1))(
            alpha, net1, stats, val_b, key, step
        )
        eps = 0.01 / (optax.tree.norm(g_w1) + 1e-12)
        net_p = jax.tree.map(lambda p, g: p + eps * g, net, g_w1)
        net_m = jax.tree.map(lambda p, g: p - eps * g, net, g_w1)
        g_p = jax.grad(train_loss_alpha)(alpha, net_p, stats, train_b)
        g_m = jax.grad(train_loss_alpha)(alpha, net_m, stats, train_b)
        return val, g_a - xi * (g_p - g_m) / (2 * eps)

    def step_fn(state, train_batch, val_batch, key):
        params, stats, step = state["params"], state["batch_stats"], state["step"]
        alpha, net = params["alpha"], params["net"]
        key = jax.random.fold_in(key, step)
        k_arch, k_w = jax.random.split(key)
        # -- architecture gradient (validation batch) -------------------------------------
        if spec.method == "darts2":
            val_loss, g_alpha = unrolled_grad(
                alpha, net, stats, train_batch, val_batch, k_arch, step
            )
        else:
            val_loss, g_alpha = jax.value_and_grad(arch_loss)(
                alpha, net, stats, val_batch, k_arch, step
            )
        # -- weight gradient (training batch, α fixed) -------------------------------------
        w_train = jax.lax.stop_gradient(relax(alpha, k_w, step))
        (train_loss, (new_stats, acc)), g_net = jax.value_and_grad(loss_fn, has_aux=True)(
            net, stats, w_train, train_batch
        )
        grads = {"alpha": g_alpha, "net": g_net}
        updates, opt_state = optimizer.update(grads, state["opt_state"], params)
        new_state = {
            "params": optax.apply_updates(params, updates),
            "batch_stats": new_stats,
            "opt_state": opt_state,
            "step": step + 1,
        }
        probs = jax.nn.softmax(alpha, axis=-1)
        metrics = {
            "train_loss": train_loss,
            "train_acc": acc,
            "val_loss": val_loss,
            "alpha_entropy": -jnp.mean(jnp.sum(probs * jnp.log(probs + 1e-12), -1)),
        }
        return new_state, metrics

    return step_fn


def init_search_state(
    model: nn.Module,
    optimizer: optax.GradientTransformation,
    sample_images: jax.Array,
    *,
    key: jax.Array,
) -> dict:
    """Supernet variables, α (:func:`init_alpha`) and the partitioned optimizer state."""
    k_net, k_alpha = jax.random.split(key)
    alpha = init_alpha(k_alpha)
    variables = model.init(k_net, sample_images, jax.nn.softmax(alpha, -1))
    params = {"alpha": alpha, "net": variables["params"]}
    return {
        "params": params,
        "batch_stats": variables.get("batch_stats", {}),
        "opt_state": optimizer.init(params),
        "step": jnp.zeros((), jnp.int32),
    }
