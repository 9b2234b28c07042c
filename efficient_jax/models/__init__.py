"""Flax Linen models: MLP, LeNet-5, CIFAR ResNets (+ PyTorch import), VGG-Small, WRN, tiny BERT.

All models are called as ``model.apply(variables, x, train=False)`` and return logits; see
:func:`get_model` for the contract and the registered names.
"""

from efficient_jax.models._bert import BertLayer, BertSelfAttention, TinyBert
from efficient_jax.models._pytorch_import import convert_pytorch_resnet, load_pytorch_resnet
from efficient_jax.models._registry import (
    MODELS,
    available_models,
    get_model,
    model_names,
    wrn16_4,
)
from efficient_jax.models._resnet import (
    RESNET_DEPTHS,
    BasicBlock,
    ResNet,
    option_a_shortcut,
    resnet20,
    resnet32,
    resnet44,
    resnet56,
)
from efficient_jax.models._simple import MLP, LeNet5
from efficient_jax.models._vgg import VGGSmall
from efficient_jax.models._wrn import WideBlock, WideResNet

__all__ = [
    "MLP",
    "MODELS",
    "RESNET_DEPTHS",
    "BasicBlock",
    "BertLayer",
    "BertSelfAttention",
    "LeNet5",
    "ResNet",
    "TinyBert",
    "VGGSmall",
    "WideBlock",
    "WideResNet",
    "available_models",
    "convert_pytorch_resnet",
    "get_model",
    "load_pytorch_resnet",
    "model_names",
    "option_a_shortcut",
    "resnet20",
    "resnet32",
    "resnet44",
    "resnet56",
    "wrn16_4",
]
