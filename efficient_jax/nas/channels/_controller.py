"""The channel-number controller: an ENAS-style 2-layer LSTM trained by REINFORCE, the MnasNet
reward, and beam search over its sequence likelihood (Bai thesis §6.4, Algorithm 4; Eq. 2.21).

At layer ``l`` the LSTM reads [embedding of the previous choice, one-hot of ``l``] and a shared
dense head gives the logits of the ``A`` candidates. ``log p(a)`` and the entropy of a given
sequence come from one teacher-forced pass (:func:`sequence_logprob`), so the REINFORCE gradient
``∇θ E[log p(a) (R − b)] + λ_H ∇θ H`` is an ordinary ``jax.grad``.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


class Controller(nn.Module):
    """``__call__(actions) -> (L, A)`` logits under teacher forcing (``actions`` (L,) ints)."""

    num_layers: int
    num_choices: int
    hidden: int = 64

    def setup(self):
        self.embed = nn.Embed(self.num_choices + 1, self.hidden)  # + start token
        self.cells = [nn.OptimizedLSTMCell(self.hidden, name=f"lstm{i}") for i in range(2)]
        self.head = nn.Dense(self.num_choices, kernel_init=nn.initializers.normal(0.01))

    def initial_carry(self):
        z = jnp.zeros((self.hidden,))
        return tuple((z, z) for _ in range(2))

    def step(self, carry, prev_action, layer):
        inp = jnp.concatenate(
            [self.embed(prev_action), jax.nn.one_hot(layer, self.num_layers)], axis=-1
        )
        new = []
        h = inp
        for cell, c in zip(self.cells, carry):
            c, h = cell(c, h)
            new.append(c)
        return tuple(new), self.head(h)

    def __call__(self, actions):
        carry = self.initial_carry()
        prev = jnp.concatenate([jnp.array([self.num_choices]), actions[:-1]])
        logits = []
        for layer in range(self.num_layers):
            carry, lg = self.step(carry, prev[layer], layer)
            logits.append(lg)
        return jnp.stack(logits)


def sequence_logprob(controller: Controller, params, actions) -> tuple[jax.Array, jax.Array]:
    """``(Σ_l log p(a_l | a_<l), Σ_l H_l)`` of one action sequence."""
    logits = controller.apply(params, actions)
    logp = jax.nn.log_softmax(logits)
    chosen = jnp.take_along_axis(logp, actions[:, None], axis=-1).sum()
    entropy = -jnp.sum(jnp.exp(logp) * logp)
    return chosen, entropy


def sample_actions(controller: Controller, params, key: jax.Array) -> jax.Array:
    """One sampled sequence ``(L,)`` (autoregressive)."""

    def body(layer, state):
        carry, prev, acts, key = state
        key, sub = jax.random.split(key)
        carry, lg = controller.apply(params, carry, prev, layer, method=Controller.step)
        a = jax.random.categorical(sub, lg)
        return carry, a, acts.at[layer].set(a), key

    carry = controller.apply(params, method=Controller.initial_carry)
    acts = jnp.zeros((controller.num_layers,), jnp.int32)
    state = (carry, jnp.array(controller.num_choices), acts, key)
    for layer in range(controller.num_layers):
        state = body(layer, state)
    return state[2]


def mnasnet_reward(accuracy, flops, target, alpha: float = 0.0, beta: float = -0.1):
    """``R = Acc · (F / B)^γ`` with ``γ = α`` if ``F ≤ B`` else ``β`` (MnasNet; thesis Eq. 2.21).

    Example:
        >>> [round(float(mnasnet_reward(0.9, f, 20.0)), 4) for f in (10.0, 40.0)]
        [0.9, 0.8397]
    """
    ratio = jnp.asarray(flops, jnp.float32) / float(target)
    gamma = jnp.where(ratio <= 1.0, alpha, beta)
    return jnp.asarray(accuracy, jnp.float32) * ratio**gamma


def beam_search(
    controller: Controller,
    params,
    beam: int = 5,
    feasible: Callable[[tuple[int, ...]], bool] | None = None,
) -> list[tuple[tuple[int, ...], float]]:
    """The ``beam`` most likely sequences with their log-probabilities (best first).

    Args:
      controller, params: the trained controller.
      beam: beam width.
      feasible: optional predicate on a *partial* sequence; prefixes for which it is False are
        dropped before ranking (e.g. "can still meet the FLOPs budget if every remaining block
        takes its narrowest width"), so every returned sequence satisfies it.

    Raises:
      ValueError: for ``beam < 1``, or when no sequence satisfies ``feasible``.
    """
    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}.")
    step = jax.jit(
        lambda c, p, layer: controller.apply(params, c, p, layer, method=Controller.step),
        static_argnums=2,
    )
    carry0 = controller.apply(params, method=Controller.initial_carry)
    beams = [((), 0.0, carry0)]
    for layer in range(controller.num_layers):
        cand = []
        for seq, score, carry in beams:
            prev = jnp.array(seq[-1] if seq else controller.num_choices)
            new_carry, lg = step(carry, prev, layer)
            logp = np.asarray(jax.nn.log_softmax(lg))
            for a in range(controller.num_choices):
                if feasible is None or feasible(seq + (a,)):
                    cand.append((seq + (a,), score + float(logp[a]), new_carry))
        if not cand:
            raise ValueError(
                f"beam_search: no sequence of length {layer + 1} satisfies the feasibility "
                "predicate (e.g. a FLOPs budget below the narrowest architecture)."
            )
        cand.sort(key=lambda t: -t[1])
        beams = cand[:beam]
    return [(seq, score) for seq, score, _ in beams]
