"""A small BERT encoder for sequence classification (GLUE), with hooks for distillation.

Layer names follow the Hugging Face ``BertModel`` (``word_embeddings``, ``embeddings_LayerNorm``,
``layer_0/attention/query``, ``layer_0/intermediate``, ``layer_0/output``, ``pooler``, ...), so that
regex rules and weight converters written against BERT checkpoints read naturally. Every weight
matmul is a plain ``nn.Dense`` so that quantizers can intercept ``dot_general``.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

_LN_EPS = 1e-12


def _dense(features: int, name: str) -> nn.Dense:
    return nn.Dense(features, kernel_init=nn.initializers.normal(0.02), name=name)


def _layer_norm(name: str) -> nn.LayerNorm:
    return nn.LayerNorm(epsilon=_LN_EPS, name=name)


class BertSelfAttention(nn.Module):
    """Multi-head self-attention with explicit query/key/value/output projections (post-LN)."""

    hidden_size: int
    num_heads: int
    dropout_rate: float = 0.1
    head_size: int | None = None  # None: hidden_size // num_heads

    @nn.compact
    def __call__(
        self, x: jax.Array, mask: jax.Array, train: bool = False
    ) -> tuple[jax.Array, jax.Array]:
        n, length, _ = x.shape
        head_dim = self.head_size or self.hidden_size // self.num_heads
        inner = head_dim * self.num_heads

        def heads(y: jax.Array) -> jax.Array:  # (N, L, H) -> (N, heads, L, head_dim)
            return y.reshape(n, length, self.num_heads, head_dim).transpose(0, 2, 1, 3)

        q = heads(_dense(inner, "query")(x))
        k = heads(_dense(inner, "key")(x))
        v = heads(_dense(inner, "value")(x))
        scores = jnp.einsum("nhqd,nhkd->nhqk", q, k) / jnp.sqrt(head_dim).astype(q.dtype)
        scores = jnp.where(mask[:, None, None, :], scores, jnp.finfo(scores.dtype).min)
        probs = jax.nn.softmax(scores, axis=-1)
        dropped = nn.Dropout(self.dropout_rate, deterministic=not train)(probs)
        context = jnp.einsum("nhqk,nhkd->nhqd", dropped, v)
        context = context.transpose(0, 2, 1, 3).reshape(n, length, inner)
        out = _dense(self.hidden_size, "output")(context)
        out = nn.Dropout(self.dropout_rate, deterministic=not train)(out)
        return _layer_norm("output_LayerNorm")(out + x), probs


class BertLayer(nn.Module):
    """One post-LN transformer block: attention → add & LN → GELU FFN → add & LN."""

    hidden_size: int
    num_heads: int
    intermediate_size: int
    dropout_rate: float = 0.1
    head_size: int | None = None

    @nn.compact
    def __call__(
        self, x: jax.Array, mask: jax.Array, train: bool = False
    ) -> tuple[jax.Array, jax.Array]:
        x, probs = BertSelfAttention(
            self.hidden_size, self.num_heads, self.dropout_rate, self.head_size, name="attention"
        )(x, mask, train)
        h = nn.gelu(_dense(self.intermediate_size, "intermediate")(x), approximate=False)
        h = _dense(self.hidden_size, "output")(h)
        h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
        return _layer_norm("output_LayerNorm")(h + x), probs


class TinyBert(nn.Module):
    """A BERT encoder (Devlin et al. 2019) + pooler + classifier; defaults: a tiny 2-layer BERT.

    Embeddings (word + position + token type, LayerNorm eps 1e-12, dropout) → ``num_layers`` post-LN
    blocks (explicit ``nn.Dense`` query/key/value/output, exact-erf GELU FFN) → pooler
    ``tanh(Dense(h[:, 0]))`` → dropout → classifier. ``attention_mask`` (N, L) marks real tokens
    with 1 and padding with 0; ``token_type_ids`` default to zeros.

    With ``return_aux=True`` the call returns ``(logits, aux)`` with ``aux["hidden_states"]`` the
    list ``[embeddings_out, layer_1_out, ...]`` (``num_layers + 1`` arrays (N, L, hidden)) and
    ``aux["attentions"]`` one (N, heads, L, L) probability array per layer, as TinyBERT-style
    distillation needs.

    Attributes:
      vocab_size, hidden_size, num_layers, num_heads, intermediate_size, max_position,
      type_vocab_size: the usual BERT configuration; ``hidden_size % num_heads == 0``.
      num_classes: number of output logits.
      head_size: per-head width; ``None`` (default) is ``hidden_size // num_heads``. Setting it
        decouples the attention width ``num_heads * head_size`` from ``hidden_size``, as
        DynaBERT's width-reduced models (e.g. half the heads at BERT's head size) need.
      dropout_rate: hidden and attention-probability dropout (uses the ``dropout`` rng in training).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> model = TinyBert(vocab_size=100, hidden_size=32, num_heads=2, intermediate_size=64)
        >>> ids = jnp.ones((2, 8), jnp.int32)
        >>> variables = model.init(jax.random.key(0), ids)
        >>> logits, aux = model.apply(variables, ids, return_aux=True)
        >>> logits.shape, len(aux["hidden_states"]), aux["attentions"][0].shape
        ((2, 2), 3, (2, 2, 8, 8))

    References:
      Devlin, Chang, Lee, Toutanova, "BERT: Pre-training of Deep Bidirectional Transformers for
      Language Understanding", NAACL 2019, https://arxiv.org/abs/1810.04805; Jiao et al.,
      "TinyBERT", Findings of EMNLP 2020, https://arxiv.org/abs/1909.10351.
    """

    vocab_size: int = 30522
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 2
    intermediate_size: int = 512
    max_position: int = 128
    type_vocab_size: int = 2
    num_classes: int = 2
    dropout_rate: float = 0.1
    head_size: int | None = None

    def __post_init__(self):
        sizes = {
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "intermediate_size": self.intermediate_size,
            "max_position": self.max_position,
            "type_vocab_size": self.type_vocab_size,
            "num_classes": self.num_classes,
        }
        bad = {k: v for k, v in sizes.items() if v < 1}
        if bad:
            raise ValueError(f"TinyBert sizes must be positive integers; got {bad}.")
        if self.head_size is not None and self.head_size < 1:
            raise ValueError(f"head_size must be a positive integer or None; got {self.head_size}.")
        if self.head_size is None and self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_heads "
                f"({self.num_heads}); allowed num_heads are the divisors of hidden_size (or set "
                "head_size)."
            )
        if not 0.0 <= self.dropout_rate < 1.0:
            raise ValueError(f"dropout_rate must be in [0, 1); got {self.dropout_rate}.")
        super().__post_init__()

    @nn.compact
    def __call__(
        self,
        input_ids: jax.Array,
        train: bool = False,
        attention_mask: jax.Array | None = None,
        token_type_ids: jax.Array | None = None,
        return_aux: bool = False,
    ) -> jax.Array | tuple[jax.Array, dict[str, list[jax.Array]]]:
        if input_ids.ndim != 2:
            raise ValueError(f"input_ids must be (batch, length); got shape {input_ids.shape}.")
        n, length = input_ids.shape
        if length > self.max_position:
            raise ValueError(f"Sequence length {length} exceeds max_position={self.max_position}.")
        if attention_mask is None:
            attention_mask = jnp.ones((n, length), jnp.bool_)
        if token_type_ids is None:
            token_type_ids = jnp.zeros((n, length), jnp.int32)
        mask = jnp.asarray(attention_mask).astype(jnp.bool_)

        init = nn.initializers.normal(0.02)
        emb = nn.Embed(
            self.vocab_size, self.hidden_size, embedding_init=init, name="word_embeddings"
        )
        pos = nn.Embed(
            self.max_position, self.hidden_size, embedding_init=init, name="position_embeddings"
        )
        typ = nn.Embed(
            self.type_vocab_size,
            self.hidden_size,
            embedding_init=init,
            name="token_type_embeddings",
        )
        x = emb(input_ids) + pos(jnp.arange(length)[None, :]) + typ(token_type_ids)
        x = _layer_norm("embeddings_LayerNorm")(x)
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)

        hidden_states, attentions = [x], []
        for i in range(self.num_layers):
            x, probs = BertLayer(
                self.hidden_size,
                self.num_heads,
                self.intermediate_size,
                self.dropout_rate,
                self.head_size,
                name=f"layer_{i}",
            )(x, mask, train)
            hidden_states.append(x)
            attentions.append(probs)

        pooled = jnp.tanh(_dense(self.hidden_size, "pooler")(x[:, 0]))
        pooled = nn.Dropout(self.dropout_rate, deterministic=not train)(pooled)
        logits = _dense(self.num_classes, "classifier")(pooled)
        if return_aux:
            return logits, {"hidden_states": hidden_states, "attentions": attentions}
        return logits
