"""One ``train_and_evaluate(config, workdir)`` per method family, selected by ``config.trainer``.

Every trainer is registered in :data:`_BUILTIN` below, one line each: its name and the module that
defines ``train_and_evaluate``. Modules are imported only when asked for (:func:`get_trainer`), so
``efficient_jax.main`` starts fast and a trainer's dependencies load only when it runs. Adding a
trainer is one module plus one line here (see ``docs/CONTRIBUTING.md``).

Example:
    >>> from efficient_jax.trainers import available_trainers, get_trainer
    >>> "classification" in available_trainers()
    True
    >>> get_trainer("clasification")
    Traceback (most recent call last):
    ...
    ValueError: Unknown trainer 'clasification'; valid: [...].
"""

from __future__ import annotations

import importlib
import types

from efficient_jax.core import Registry

TRAINERS = Registry("trainer")  # name -> module path (imported lazily)

_BUILTIN: tuple[tuple[str, str], ...] = (
    ("aps", "efficient_jax.trainers.aps"),
    ("binarybert", "efficient_jax.trainers.binarybert"),
    ("cascades", "efficient_jax.trainers.cascades"),
    ("classification", "efficient_jax.trainers.classification"),
    ("darts", "efficient_jax.trainers.darts"),
    ("few_shot_pruning", "efficient_jax.trainers.few_shot_pruning"),
    ("mrem", "efficient_jax.trainers.mrem"),
    ("nas_search", "efficient_jax.trainers.nas_search"),
    ("qat", "efficient_jax.trainers.qat"),
    ("quickstart", "efficient_jax.trainers.quickstart"),
    ("weight_sharing", "efficient_jax.trainers.weight_sharing"),
    ("zero_cost", "efficient_jax.trainers.zero_cost"),
)

for _name, _module in _BUILTIN:
    TRAINERS.register(_name, _module)


def available_trainers() -> list[str]:
    """Names accepted by ``config.trainer``, sorted.

    Example:
        >>> "nas_search" in available_trainers()
        True
    """
    return sorted(TRAINERS.names())


def get_trainer(name: str) -> types.ModuleType:
    """The trainer module registered as ``name`` (it defines ``train_and_evaluate``), imported now.

    Raises:
      ValueError: for an unknown name, listing the registered ones.

    Example:
        >>> get_trainer("quickstart").train_and_evaluate.__name__
        'train_and_evaluate'
    """
    return importlib.import_module(TRAINERS.get(name))
