"""MREM building blocks: bit presets and rules, the per-module float/quantized forwards and loss.

The module-wise reconstruction loss (Bai 2021, thesis Ch. 4, Eq. 4.2) of module n is
``sum_l ||f̂_l - f_l||²`` over the outputs of its layers, plus the embedding output in the first
module and the logits in the last (each term a mean-squared error). The quantized module runs on
``x̃ = λ·x_fp + (1-λ)·x_q`` (teacher forcing, Eq. 4.3), wrapped in ``stop_gradient``: gradients
never leave a module.

Example:
    >>> parse_bits("w4e4a8")
    (4, 4, 8)
    >>> [(r.path_regex, r.weight_bits, r.act_bits) for r in ptq_rules("w2e2a8")][:2]
    [('^(pooler|classifier)/', 8, 8), ('word_embeddings/embedding$', 2, 8)]
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from efficient_jax import qat, quant
from efficient_jax.ptq._partition import ModulePartition
from efficient_jax.ptq._stages import BertStage, stages_for

#: The W-E-A settings of the thesis's tables that the configs use.
BIT_PRESETS = ("w8e8a8", "w4e4a8", "w2e2a8")
#: Bit widths the LSQ quantizers of :func:`ptq_rules` accept (from the quantizer's spec).
ALLOWED_BITS = quant.get_quantizer("lsq").bits
QVARS = ("params", qat.QUANT, qat.STATS)


def parse_bits(bits: str | Sequence[int]) -> tuple[int, int, int]:
    """``"w4e4a8"`` or ``(4, 4, 8)`` → ``(weight, embedding, activation)`` bits.

    Raises:
      ValueError: a malformed name, or a width outside ``2..8``.
    """
    if isinstance(bits, str):
        m = re.fullmatch(r"w(\d+)e(\d+)a(\d+)", bits)
        if not m:
            raise ValueError(
                f"bits must look like 'w4e4a8' (weight, embedding, activation bits), e.g. one of "
                f"{list(BIT_PRESETS)}; got {bits!r}."
            )
        values = tuple(int(g) for g in m.groups())
    else:
        values = tuple(bits)
    if len(values) != 3:
        raise ValueError(f"bits needs 3 widths (W, E, A); got {bits!r}.")
    for name, b in zip(("weight", "embedding", "activation"), values, strict=True):
        if isinstance(b, bool) or not isinstance(b, int) or b not in ALLOWED_BITS:
            raise ValueError(
                f"{name} bits must be an integer in {ALLOWED_BITS[0]}..{ALLOWED_BITS[-1]} "
                f"(LSQ); got {b!r} in {bits!r}."
            )
    return values  # type: ignore[return-value]


def ptq_rules(
    bits: str | Sequence[int],
    *,
    head_regex: str = r"^(pooler|classifier)/",
    embedding_regex: str = r"word_embeddings/embedding$",
    ffn_output_regex: str = r"layer_\d+/output/kernel$",
) -> list[qat.QuantRule]:
    """LSQ rules for W-E-A bits (thesis §4.2 setting, with the choices noted below).

    Every matmul weight and input is quantized with learnable LSQ steps (per tensor); the word
    embedding row-wise at E bits (as TernaryBERT); the input of the FFN output matmul (after
    GeLU) asymmetrically; the head (pooler, classifier) at W8A8 as in our QAT baseline (the thesis
    keeps it float). The thesis uses TWN/LAQ for 2/4-bit weights; we learn LSQ steps (the issue's
    "quantizer parameters"), which makes RTN, REM, MREM and QAT share one quantizer.
    """
    w, e, a = parse_bits(bits)
    lsq = dict(weight="lsq", act="lsq")
    return [
        qat.QuantRule(path_regex=head_regex, weight_bits=8, act_bits=8, **lsq),
        qat.QuantRule(
            path_regex=embedding_regex,
            weight="lsq",
            weight_bits=e,
            weight_granularity="per_channel",
            weight_axis=0,
        ),
        qat.QuantRule(path_regex=r"embedding$", weight="lsq", weight_bits=e),
        qat.QuantRule(
            path_regex=ffn_output_regex, weight_bits=w, act_bits=a, act_symmetric=False, **lsq
        ),
        qat.QuantRule(path_regex=r"kernel$", weight_bits=w, act_bits=a, **lsq),
    ]


@dataclasses.dataclass(frozen=True)
class ReconConfig:
    """Hyperparameters of REM / MREM (thesis §4.4: 2,000 steps per module, LR 1e-4, linear decay).

    Attributes:
      steps: optimisation steps per module (MREM) or for the whole model (REM).
      batch_size: calibration examples per step.
      learning_rate: Adam learning rate, decayed linearly to 0.
      train_weights: also train the latent weights (thesis default), not only quantizer steps.
      tf_fraction: teacher forcing over the first ``tf_fraction·steps`` steps (T0 = 0.4·T);
        0 disables it. Parallel MREM only.
      queue_size: t0, the FIFO capacity of each input queue (parallel MREM).
      teacher_lambda: if set, a constant λ instead of the linear decay (1.0: pure teacher
        forcing, every module trains on float inputs; 0.0: none).
      seed: PRNG seed for batch sampling.
    """

    steps: int = 2000
    batch_size: int = 32
    learning_rate: float = 1e-4
    train_weights: bool = True
    tf_fraction: float = 0.4
    queue_size: int = 8
    teacher_lambda: float | None = None
    seed: int = 0

    def __post_init__(self):
        for name in ("steps", "batch_size", "queue_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"ReconConfig.{name} must be a positive integer; got {v!r}.")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0; got {self.learning_rate!r}.")
        if not 0.0 <= self.tf_fraction <= 1.0:
            raise ValueError(f"tf_fraction must be in [0, 1]; got {self.tf_fraction!r}.")
        if self.teacher_lambda is not None and not 0.0 <= self.teacher_lambda <= 1.0:
            raise ValueError(
                f"teacher_lambda must be in [0, 1] or None; got {self.teacher_lambda!r}."
            )

    def optimizer(self) -> optax.GradientTransformation:
        """Adam with the learning rate decayed linearly to 0 over ``steps``."""
        return optax.adam(optax.linear_schedule(self.learning_rate, 0.0, self.steps))

    def teacher_weight(self, t: jax.Array | int) -> jax.Array:
        """λ_t = max(1 - t/T0, 0) with T0 = tf_fraction·steps (0 without teacher forcing)."""
        if self.teacher_lambda is not None:
            return jnp.asarray(self.teacher_lambda, jnp.float32)
        t0 = self.tf_fraction * self.steps
        if t0 <= 0:
            return jnp.zeros((), jnp.float32)
        return jnp.maximum(1.0 - jnp.asarray(t, jnp.float32) / t0, 0.0)


def check_calibration(calib: Mapping[str, Any], batch_size: int) -> int:
    """Number of calibration examples; raises ``ValueError`` if fewer than one batch."""
    if "input_ids" not in calib:
        raise ValueError(f"The calibration set needs 'input_ids'; got keys {sorted(calib)}.")
    n = int(calib["input_ids"].shape[0])
    if n < batch_size:
        raise ValueError(
            f"The calibration set has {n} examples, fewer than one batch ({batch_size}); use at "
            f"least batch_size examples or a smaller batch_size."
        )
    return n


def gather(calib: Mapping[str, Any], idx: jax.Array) -> dict[str, jax.Array]:
    """The calibration examples at ``idx`` (model inputs only)."""
    keys = ("input_ids", "attention_mask", "token_type_ids")
    return {k: jnp.take(calib[k], idx, axis=0) for k in keys if k in calib}


def mse(a: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.mean(jnp.square(a.astype(jnp.float32) - b.astype(jnp.float32)))


def recon_loss(q_out: tuple, fp_out: tuple) -> jax.Array:
    """Eq. 4.2: summed MSE over a stage's hidden states (and logits, in the last module)."""
    (hq, lq), (hf, lf) = q_out, fp_out
    loss = sum(mse(a, b) for a, b in zip(hq, hf, strict=True))
    if lf is not None:
        loss = loss + mse(lq, lf)
    return loss


@dataclasses.dataclass(frozen=True, eq=False)
class ModuleSet:
    """The modules of a partitioned model: float and fake-quant forwards, and the local loss.

    Built by :func:`build_modules`. Variables are passed explicitly (pure functions): ``fp_vars[k]``
    is ``{"params": ...}`` of module k, ``qvars[k]`` its ``{"params", "quant", "quant_stats"}``.
    """

    partition: ModulePartition
    stages: tuple[BertStage, ...]
    qmodels: tuple[qat.QuantizedModel, ...]
    train_weights: bool = True

    def __len__(self) -> int:
        return len(self.stages)

    def _inputs(self, k: int, x: Any, batch: Mapping[str, Any]) -> tuple[tuple, dict]:
        kw = {"attention_mask": batch.get("attention_mask")}
        if k == 0:
            kw["token_type_ids"] = batch.get("token_type_ids")
            return (batch["input_ids"],), kw
        return (x,), kw

    def fp_forward(self, k: int, fp_vars: Any, x: Any, batch: Mapping[str, Any]) -> tuple:
        args, kw = self._inputs(k, x, batch)
        return self.stages[k].apply(fp_vars, *args, **kw)

    def q_forward(self, k: int, qvars: Any, x: Any, batch: Mapping[str, Any]) -> tuple:
        args, kw = self._inputs(k, x, batch)
        return self.qmodels[k](qvars, *args, **kw)

    def split_trainable(self, qvars: Mapping[str, Any]) -> tuple[dict, dict]:
        """``(trainable, frozen)``: params (if ``train_weights``) and quant are trained."""
        keys = ("params", qat.QUANT) if self.train_weights else (qat.QUANT,)
        return {k: qvars[k] for k in keys}, {k: v for k, v in qvars.items() if k not in keys}

    def loss(
        self,
        k: int,
        trainable: Any,
        frozen: Any,
        fp_vars: Any,
        x_fp: Any,
        x_q: Any,
        batch: Mapping[str, Any],
        lam: Any = 0.0,
    ) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        """Module k's loss and its outputs ``(f_out, f̂_out)`` (last hidden state, float/quant).

        The inputs are ``stop_gradient``-ed, so no gradient reaches another module.
        """
        if k > 0:
            x_fp = jax.lax.stop_gradient(x_fp)
            x_in = jax.lax.stop_gradient(lam * x_fp + (1.0 - lam) * x_q)
        else:
            x_in = None
        fp_out = jax.tree.map(jax.lax.stop_gradient, self.fp_forward(k, fp_vars, x_fp, batch))
        q_out = self.q_forward(k, {**frozen, **trainable}, x_in, batch)
        return recon_loss(q_out, fp_out), (fp_out[0][-1], q_out[0][-1])


def build_modules(
    model: nn.Module,
    float_vars: Mapping[str, Any],
    qat_params: Mapping[str, Any],
    rules: Sequence[qat.QuantRule],
    partition: ModulePartition,
    *,
    train_weights: bool = True,
) -> tuple[ModuleSet, list[dict], list[dict]]:
    """``(modules, fp_vars, qvars)`` for ``partition`` of ``model``.

    Args:
      model: the float TinyBert.
      float_vars: its variables ``{"params": ...}``.
      qat_params: from :func:`~efficient_jax.qat.prepare` on the full model with ``rules``
        (calibrated: round-to-nearest PTQ); split per module.
      rules: the quantization rules.
      partition: from :func:`~efficient_jax.ptq.partition_modules`.
      train_weights: train latent weights as well as quantizer steps.
    """
    stages = stages_for(model, partition)
    fp_parts = partition.split(float_vars["params"])
    split = {c: partition.split(qat_params.get(c, {})) for c in QVARS}
    qvars = [{c: split[c][k] for c in QVARS} for k in range(len(partition))]
    qmodels = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the head rule matches nothing in the first modules
        for stage, part in zip(stages, fp_parts, strict=True):
            qmodels.append(qat.quantize_model(stage.apply, {"params": part}, rules))
    mods = ModuleSet(partition, tuple(stages), tuple(qmodels), train_weights)
    return mods, [{"params": p} for p in fp_parts], qvars


def merge_qvars(partition: ModulePartition, qvars: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The full-model ``qat_params`` from the module variables (inverse of the split)."""
    return {c: partition.merge([q[c] for q in qvars]) for c in QVARS}


def chain_losses(
    mods: ModuleSet,
    trainables: Sequence[Any],
    frozens: Sequence[Any],
    fp_vars: Sequence[Any],
    batch: Mapping[str, Any],
    lam: float = 0.0,
) -> list[jax.Array]:
    """Each module's loss when the modules run as a chain on ``batch`` (module k's float input is
    the float chain's output, its quantized input the quantized chain's output)."""
    losses, x_fp, x_q = [], None, None
    for k in range(len(mods)):
        loss, (x_fp, x_q) = mods.loss(
            k, trainables[k], frozens[k], fp_vars[k], x_fp, x_q, batch, lam
        )
        losses.append(loss)
    return losses


def reconstruction_error(
    mods: ModuleSet,
    qvars: Sequence[Any],
    fp_vars: Sequence[Any],
    calib: Mapping[str, Any],
    batch_size: int,
) -> list[float]:
    """Per-module reconstruction loss of the fully quantized chain (no teacher forcing), averaged
    over ``calib`` in consecutive batches."""
    n = check_calibration(calib, batch_size)
    split = [mods.split_trainable(q) for q in qvars]
    trainables, frozens = [s[0] for s in split], [s[1] for s in split]

    @jax.jit
    def errors(trainables, frozens, fp_vars, batch):
        return jnp.stack(chain_losses(mods, trainables, frozens, fp_vars, batch, 0.0))

    total, count = 0.0, 0
    for start in range(0, n - batch_size + 1, batch_size):
        idx = jnp.arange(start, start + batch_size)
        total = total + errors(trainables, frozens, fp_vars, gather(calib, idx))
        count += 1
    return [float(v) for v in total / count]
