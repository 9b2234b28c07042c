"""Stage models: the slice of a :class:`~efficient_jax.models.TinyBert` that one MREM module runs.

A :class:`BertStage` holds the same-named submodules as the full model (``word_embeddings``,
``layer_2``, ``pooler``...) for one module of a :class:`ModulePartition`, so its parameter tree is
exactly the module's subtree of the full model and quantization rules, ``quant`` leaves and
``quant_stats`` keyed by layer path apply unchanged. Chaining the stages reproduces the full model
(tested), which is how MREM (Bai 2021, thesis Ch. 4, §4.3.1) runs modules on separate devices.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from efficient_jax.models import TinyBert
    >>> from efficient_jax.ptq import partition_modules
    >>> model = TinyBert(vocab_size=50, hidden_size=16, num_layers=2, intermediate_size=32)
    >>> ids = jnp.ones((1, 4), jnp.int32)
    >>> params = model.init(jax.random.key(0), ids)["params"]
    >>> part = partition_modules(params, 2)
    >>> s0, s1 = stages_for(model, part)
    >>> parts = part.split(params)
    >>> hs0, _ = s0.apply({"params": parts[0]}, ids)  # [embedding output, layer_0 output]
    >>> hs1, logits = s1.apply({"params": parts[1]}, hs0[-1])
    >>> bool(jnp.allclose(logits, model.apply({"params": params}, ids), atol=1e-5))
    True
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from efficient_jax.models import BertLayer, TinyBert
from efficient_jax.ptq._partition import ModulePartition

_LN_EPS = 1e-12


class BertStage(nn.Module):
    """Layers ``layer_ids`` of a TinyBert, with its embedding (``embed``) and/or head (``head``).

    ``__call__(x, attention_mask=None, token_type_ids=None)`` takes token ids when ``embed`` is
    set, else hidden states (N, L, H), and returns ``(hidden_states, logits)``: the embedding
    output (first stage only) followed by each layer's output, and the logits (``None`` unless
    ``head``). Field meanings as in :class:`~efficient_jax.models.TinyBert`.
    """

    layer_ids: tuple[int, ...]
    embed: bool = False
    head: bool = False
    vocab_size: int = 30522
    hidden_size: int = 128
    num_heads: int = 2
    intermediate_size: int = 512
    max_position: int = 128
    type_vocab_size: int = 2
    num_classes: int = 2
    head_size: int | None = None  # per-head width if the model decouples it (None: H / heads)

    @nn.compact
    def __call__(
        self,
        x: jax.Array,
        attention_mask: jax.Array | None = None,
        token_type_ids: jax.Array | None = None,
    ) -> tuple[list[jax.Array], jax.Array | None]:
        n, length = x.shape[:2]
        if attention_mask is None:
            attention_mask = jnp.ones((n, length), jnp.bool_)
        mask = jnp.asarray(attention_mask).astype(jnp.bool_)
        hidden: list[jax.Array] = []
        if self.embed:
            if token_type_ids is None:
                token_type_ids = jnp.zeros((n, length), jnp.int32)
            init = nn.initializers.normal(0.02)
            emb = nn.Embed(self.vocab_size, self.hidden_size, embedding_init=init,
                           name="word_embeddings")  # fmt: skip
            pos = nn.Embed(self.max_position, self.hidden_size, embedding_init=init,
                           name="position_embeddings")  # fmt: skip
            typ = nn.Embed(self.type_vocab_size, self.hidden_size, embedding_init=init,
                           name="token_type_embeddings")  # fmt: skip
            x = emb(x) + pos(jnp.arange(length)[None, :]) + typ(token_type_ids)
            x = nn.LayerNorm(epsilon=_LN_EPS, name="embeddings_LayerNorm")(x)
            hidden.append(x)
        extra = {"head_size": self.head_size} if self.head_size else {}
        for i in self.layer_ids:
            x, _ = BertLayer(
                self.hidden_size,
                self.num_heads,
                self.intermediate_size,
                0.0,
                name=f"layer_{i}",
                **extra,
            )(x, mask, False)
            hidden.append(x)
        logits = None
        if self.head:
            pooled = jnp.tanh(nn.Dense(self.hidden_size, name="pooler")(x[:, 0]))
            logits = nn.Dense(self.num_classes, name="classifier")(pooled)
        return hidden, logits


def stages_for(model: TinyBert, partition: ModulePartition) -> list[BertStage]:
    """One :class:`BertStage` per module of ``partition`` (inference mode: no dropout).

    Raises:
      ValueError: ``model`` is not a TinyBert, or the partition's layers are not ``0..L-1``.
    """
    if not isinstance(model, TinyBert):
        raise ValueError(f"stages_for supports TinyBert models; got {type(model).__name__}.")
    flat = [i for group in partition.layers for i in group]
    if flat != list(range(model.num_layers)):
        raise ValueError(
            f"The partition's layers {partition.layers} do not cover the model's "
            f"{model.num_layers} layers in order."
        )
    last = len(partition) - 1
    return [
        BertStage(
            layer_ids=tuple(group),
            embed=k == 0,
            head=k == last,
            vocab_size=model.vocab_size,
            hidden_size=model.hidden_size,
            num_heads=model.num_heads,
            intermediate_size=model.intermediate_size,
            max_position=model.max_position,
            type_vocab_size=model.type_vocab_size,
            num_classes=model.num_classes,
            head_size=getattr(model, "head_size", None),
        )
        for k, group in enumerate(partition.layers)
    ]
