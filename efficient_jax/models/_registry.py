"""Config-selected models by name: ``get_model("resnet20", num_classes=100)``.

Every registered model follows one contract: ``model.apply(variables, x, train=False)`` returns
logits ``(N, num_classes)``; BatchNorm statistics live in ``batch_stats`` (apply with
``mutable=["batch_stats"]`` when ``train=True``) and dropout draws from the ``dropout`` rng.
Image models take NHWC floats; ``tiny_bert`` takes int token ids ``(N, L)``.
"""

from __future__ import annotations

import inspect
from typing import Any

import flax.linen as nn

from efficient_jax.core import Registry
from efficient_jax.models._bert import TinyBert
from efficient_jax.models._resnet import resnet20, resnet32, resnet44, resnet56
from efficient_jax.models._simple import MLP, LeNet5
from efficient_jax.models._vgg import VGGSmall
from efficient_jax.models._wrn import WideResNet

MODELS = Registry("model")


def wrn16_4(num_classes: int = 10, dropout_rate: float = 0.0) -> WideResNet:
    """WRN-16-4 (2.75M parameters)."""
    return WideResNet(depth=16, widen_factor=4, num_classes=num_classes, dropout_rate=dropout_rate)


for _name, _ctor in (
    ("mlp", MLP),
    ("lenet5", LeNet5),
    ("resnet20", resnet20),
    ("resnet32", resnet32),
    ("resnet44", resnet44),
    ("resnet56", resnet56),
    ("vgg_small", VGGSmall),
    ("wrn16_4", wrn16_4),
    ("tiny_bert", TinyBert),
):
    MODELS.register(_name)(_ctor)


def _allowed_kwargs(ctor: Any) -> list[str]:
    if isinstance(ctor, type) and issubclass(ctor, nn.Module):
        return [
            f.name
            for f in ctor.__dataclass_fields__.values()
            if f.init and f.name not in ("parent", "name")
        ]
    return list(inspect.signature(ctor).parameters)


def available_models() -> list[str]:
    """The names :func:`get_model` accepts, in registration order.

    Example:
        >>> available_models()[:3]
        ['mlp', 'lenet5', 'resnet20']
    """
    return MODELS.names()


model_names = available_models  # the earlier name, kept working


def get_model(name: str, **kwargs: Any) -> nn.Module:
    """Builds a registered model by name.

    Args:
      name: one of :func:`available_models` (``"mlp"``, ``"lenet5"``, ``"resnet20"``,
        ``"resnet32"``, ``"resnet44"``, ``"resnet56"``, ``"vgg_small"``, ``"wrn16_4"``,
        ``"tiny_bert"``).
      **kwargs: constructor arguments (e.g. ``num_classes``).

    Returns:
      An unbound ``flax.linen.Module``.

    Raises:
      ValueError: for an unknown name (listing the valid ones), an unknown keyword argument
        (listing the allowed ones) or an invalid value.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> model = get_model("resnet20", num_classes=100)
        >>> x = jnp.zeros((1, 32, 32, 3))
        >>> model.apply(model.init(jax.random.key(0), x), x).shape
        (1, 100)
    """
    ctor = MODELS.get(name)
    allowed = _allowed_kwargs(ctor)
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown argument(s) {unknown} for model {name!r}; allowed: {allowed}.")
    return ctor(**kwargs)
