"""One ``train_and_evaluate(config, workdir)`` per method family, selected by ``config.trainer``."""

import pkgutil


def available_trainers() -> list[str]:
    """Names accepted by ``config.trainer``."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
