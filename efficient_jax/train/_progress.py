"""Progress with steps/s and ETA (tqdm) for long loops; silent on non-zero processes.

Example:
    >>> with Progress(total=3, initial=0, disable=True) as p:
    ...     for _ in range(3):
    ...         p.update(loss=0.1)
"""

from __future__ import annotations

import sys

import jax
from tqdm.auto import tqdm


class Progress:
    """A tqdm bar over training steps that shows steps/s, ETA and the latest scalars.

    Args:
      total: number of steps of the whole run.
      initial: the step the run starts from (after a resume).
      desc: bar label.
      disable: force off (default: on for process 0 when stderr is a terminal or ``total`` is
        large enough for the bar to matter).
    """

    def __init__(
        self, total: int, initial: int = 0, desc: str = "train", disable: bool | None = None
    ):
        if disable is None:
            disable = jax.process_index() != 0 or (not sys.stderr.isatty() and total < 200)
        self._bar = tqdm(
            total=total,
            initial=initial,
            desc=desc,
            unit="step",
            disable=disable,
            dynamic_ncols=True,
            mininterval=1.0,
        )

    def update(self, n: int = 1, **scalars: float) -> None:
        if scalars:
            self._bar.set_postfix({k: f"{float(v):.4g}" for k, v in scalars.items()}, refresh=False)
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
