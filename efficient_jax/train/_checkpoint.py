"""Orbax checkpoints that always resume from the workdir's latest step.

The train state is a plain dict pytree (``{"params", "opt", "step", ...}``); it is saved with
``ocp.args.StandardSave`` and restored onto the shardings of a template state, so a run restored on
a different mesh lands where the new program expects it.

Example:
    >>> import tempfile, jax.numpy as jnp
    >>> ckpt = Checkpointer(tempfile.mkdtemp())
    >>> state = {"params": {"w": jnp.ones(2)}, "step": jnp.array(0)}
    >>> _ = ckpt.save(5, state, force=True)
    >>> ckpt.latest_step()
    5
    >>> ckpt.close()
"""

from __future__ import annotations

import os
import pathlib

import jax
import orbax.checkpoint as ocp

from efficient_jax.types import PyTree


class Checkpointer:
    """A thin wrapper around :class:`orbax.checkpoint.CheckpointManager`.

    Args:
      directory: where checkpoints live (``workdir/checkpoints``).
      max_to_keep: how many recent checkpoints to keep.
      save_interval_steps: ``save`` is a no-op at other steps unless ``force=True``.
    """

    def __init__(
        self, directory: str | os.PathLike, *, max_to_keep: int = 2, save_interval_steps: int = 1
    ):
        if max_to_keep < 1 or save_interval_steps < 1:
            raise ValueError(
                f"max_to_keep ({max_to_keep}) and save_interval_steps ({save_interval_steps}) "
                "must be >= 1."
            )
        self.directory = pathlib.Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, save_interval_steps=save_interval_steps, create=True
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, state: PyTree, *, force: bool = False) -> bool:
        """Saves ``state`` at ``step`` (asynchronously); returns whether a save started."""
        return self._manager.save(int(step), args=ocp.args.StandardSave(state), force=force)

    def restore(self, template: PyTree, step: int | None = None) -> PyTree:
        """Restores ``step`` (default: latest) with the structure, dtypes and shardings of
        ``template``.

        Raises:
          FileNotFoundError: if there is no checkpoint to restore.
        """
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"No checkpoint in {self.directory}.")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))

    def maybe_restore(self, template: PyTree) -> tuple[PyTree, int | None]:
        """Restores the latest checkpoint if there is one, else returns ``template``."""
        step = self.latest_step()
        if step is None:
            return template, None
        return self.restore(template, step), step

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()
