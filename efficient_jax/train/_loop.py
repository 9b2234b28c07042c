"""The training loop: jit'd steps, metrics, progress, checkpoints, preemption and NaN guards.

``fit`` runs ``train_step`` from the state's step to ``num_steps``. It checkpoints every
``checkpoint_every`` steps and at the end, saves and exits on SIGTERM (TPU/GPU preemption), and
stops with :class:`NonFiniteLossError` on a NaN/inf loss, keeping the last good checkpoint.
Resuming is the caller's one line: ``state, _ = checkpointer.maybe_restore(state)``.

Example:
    >>> import jax.numpy as jnp
    >>> step = lambda s, b: ({"w": s["w"] - 0.1, "step": s["step"] + 1}, {"loss": s["w"]})
    >>> state = fit(step, {"w": jnp.array(1.0), "step": jnp.array(0)}, lambda i: {}, num_steps=3)
    >>> int(state["step"])
    3
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jax
import numpy as np

from efficient_jax.train._checkpoint import Checkpointer
from efficient_jax.train._progress import Progress
from efficient_jax.train._writer import MetricWriter
from efficient_jax.types import Batch, PyTree

log = logging.getLogger("efficient_jax")

PREEMPTED_EXIT_CODE = 143


class NonFiniteLossError(FloatingPointError):
    """Raised when the training loss becomes NaN or infinite."""


@contextlib.contextmanager
def _sigterm_flag() -> Iterator[dict[str, bool]]:
    flag = {"set": False}

    def handler(signum, frame):
        del signum, frame
        flag["set"] = True

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # Not the main thread: cannot install handlers; run unguarded.
        yield flag
        return
    try:
        yield flag
    finally:
        signal.signal(signal.SIGTERM, previous)


def _mean_metrics(rows: list[Mapping[str, Any]]) -> dict[str, float]:
    host = jax.device_get(rows)
    return {k: float(np.mean([r[k] for r in host])) for k in host[0]}


def fit(
    train_step: Callable[[PyTree, Batch], tuple[PyTree, Mapping[str, jax.Array]]],
    state: PyTree,
    batch_fn: Callable[[int], Batch],
    *,
    num_steps: int,
    writer: MetricWriter | None = None,
    checkpointer: Checkpointer | None = None,
    log_every: int = 50,
    checkpoint_every: int | None = None,
    eval_fn: Callable[[PyTree], Mapping[str, float]] | None = None,
    eval_every: int | None = None,
    progress: bool | None = None,
    desc: str = "train",
) -> PyTree:
    """Runs ``train_step`` from ``int(state["step"])`` up to ``num_steps``.

    Args:
      train_step: jitted ``(state, batch) -> (state, metrics)``; metrics must include ``loss``.
      state: the (possibly restored) train state; its ``"step"`` says where to start.
      batch_fn: ``step -> batch`` placed on devices; deterministic in ``step`` so resumes are exact.
      num_steps: total steps of the run.
      writer: metrics sink (``metrics.jsonl``); averages of the last ``log_every`` steps are
        written.
      checkpointer: saves every ``checkpoint_every`` steps, on SIGTERM and at the end.
      log_every: logging (and NaN-check) interval in steps.
      checkpoint_every: checkpoint interval (default: only at the end and on SIGTERM).
      eval_fn: ``state -> {name: value}``, run every ``eval_every`` steps and logged as
        ``eval_<name>``.
      progress: show a tqdm bar (default: automatic).

    Returns:
      The final state.

    Raises:
      NonFiniteLossError: the loss became NaN/inf; the last good checkpoint is kept.
      SystemExit: with code 143 after saving, when SIGTERM arrived.
      ValueError: on non-positive intervals or ``num_steps``.
    """
    for name, value in [("num_steps", num_steps), ("log_every", log_every)] + [
        (n, v) for n, v in [("checkpoint_every", checkpoint_every), ("eval_every", eval_every)] if v
    ]:
        if value is None or value <= 0:
            raise ValueError(f"{name} must be a positive integer; got {value}.")
    start = int(jax.device_get(state["step"]))
    if start >= num_steps:
        log.info("Nothing to do: state is at step %d of %d.", start, num_steps)
        return state
    pending: list[Mapping[str, Any]] = []
    last_good_step = checkpointer.latest_step() if checkpointer else None

    def flush(step: int) -> None:
        nonlocal pending
        if not pending:
            return
        means = _mean_metrics(pending)
        pending = []
        if not math.isfinite(means["loss"]):
            where = (
                f"the last good checkpoint (step {last_good_step}) is kept in "
                f"{checkpointer.directory}"
                if checkpointer and last_good_step is not None
                else "no checkpoint was written"
            )
            raise NonFiniteLossError(
                f"Training loss became {means['loss']} by step {step}; stopping. {where}. "
                "Lower the learning rate or check the data."
            )
        if writer:
            writer.write_scalars(step, means)
        bar.update(0, **{k: v for k, v in means.items() if k in ("loss", "accuracy")})

    def save(step: int, state: PyTree) -> None:
        nonlocal last_good_step
        if checkpointer is None:
            return
        flush(step)  # Never checkpoint a diverged state.
        checkpointer.save(step, state, force=True)
        last_good_step = step

    bar = Progress(total=num_steps, initial=start, desc=desc, disable=None if progress else True)
    with _sigterm_flag() as sigterm, bar:
        for step in range(start, num_steps):
            with jax.profiler.StepTraceAnnotation(desc, step_num=step):
                state, metrics = train_step(state, batch_fn(step))
            pending.append(metrics)
            done = step + 1
            bar.update(1)
            if done % log_every == 0:
                flush(done)
            if eval_fn is not None and eval_every and done % eval_every == 0 and done < num_steps:
                flush(done)
                if writer:
                    writer.write_scalars(done, {f"eval_{k}": v for k, v in eval_fn(state).items()})
            if checkpoint_every and done % checkpoint_every == 0 and done < num_steps:
                save(done, state)
            if sigterm["set"]:
                log.warning("SIGTERM received: saving a checkpoint at step %d and exiting.", done)
                save(done, state)
                if checkpointer:
                    checkpointer.wait()
                sys.exit(PREEMPTED_EXIT_CODE)
        flush(num_steps)
        save(num_steps, state)
        if checkpointer:
            checkpointer.wait()
    return state
