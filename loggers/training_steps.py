"""What a step means in every adapter, and where a training's steps go in its run.

**A step is the number of optimizer updates completed when the value is logged.**
The first training point logged after one update is at step 1; validation after N
updates, and the metrics of an epoch that ended after N updates, are at step N; an
evaluation before any training is at step 0. It is the number Keras keeps in
`optimizer.iterations`, the Trainer in `state.global_step`, Lightning in
`trainer.global_step`, and the step a Flax or torch loop counts once its update is
done (Flax's examples write `step + 1`). Lightning alone hands its loggers one less
while it trains (the index of the batch it is finishing), so its adapter records
the trainer's count instead (`lightning_updates`); docs/frameworks.md has the table.

One adapter is one run for the whole program, and a program may train more than
once. `RunSteps` keeps where the current training's steps go, by one policy for
every adapter (Keras, Lightning, Transformers; torch's and clu's writers take the
user's steps as they come):

1. A training whose update count starts at 0 after this adapter already trained
   in this process (a recompiled Keras model, a second `Trainer.train()`, a new
   Lightning Trainer on the same logger) continues after the last step stored:
   its steps are offset by it, so nothing is written over.
2. A training that starts at update N > 0 below what the run holds (resumed from
   a checkpoint: `fit(initial_epoch=k)`, `BackupAndRestore`, `fit(ckpt_path=...)`,
   `train(resume_from_checkpoint=...)`, in a new process or in this one) replaces
   what the run stored after N: those points belong to the attempt the checkpoint
   superseded, as TensorBoard's `purge_step` hides them. Step N stays: it was
   logged before the checkpoint was saved.
3. A training from 0 on a run continued from an earlier process purges nothing:
   its points replace the stored ones step by step, as a rerun into the same
   directory does in TensorBoard and in Lightning's loggers.
4. Evaluation outside training logs at the step training reached; it neither
   purges nor moves the offset.

    >>> from trackboard.loggers.distributed import NullRun
    >>> steps = RunSteps()
    >>> steps.training_starts(NullRun(), 0), steps.step(8)   # a first fit: 8 updates
    (0, 8)
    >>> steps.stored(8)
    >>> steps.training_starts(NullRun(), 0), steps.step(8)   # recompiled, fit again
    (8, 16)
"""

from __future__ import annotations

from typing import Any


class RunSteps:
    """Where one adapter's steps go in its run (the policy above).

    The adapter tells it when a training starts (`training_starts`, with the
    framework's update count once any checkpoint is restored) and what it stored
    (`stored`); `step(updates)` is the step to log at for a framework count.
    """

    def __init__(self) -> None:
        #: Added to the framework's count: keeps steps increasing when the count
        #: starts again at 0 within one program (rule 1).
        self.offset = 0
        #: The last step stored through this adapter in this process.
        self.last: int | None = None
        #: A training ran through this adapter in this process.
        self.trained = False

    def step(self, updates: int) -> int:
        """The step of a value logged when the framework has counted `updates`."""
        return updates + self.offset

    def stored(self, step: int) -> None:
        """Remember a step this adapter stored (the highest one counts)."""
        if self.last is None or step > self.last:
            self.last = step

    def training_starts(self, run: Any, updates: int) -> int:
        """A training starts with the framework's count at `updates`; returns its
        first step (where it stands before its first update). `run` is the open run
        (a Run or a NullRun): rule 2 purges it."""
        start = updates + self.offset
        if self.trained:
            if self.last is not None and start < self.last:
                if updates == 0:
                    self.offset = self.last           # rule 1: the count started again
                else:
                    _replace_after(run, start)        # rule 2, within this process
        elif updates > 0 and getattr(run, "resumed", False):
            _replace_after(run, start)                # rule 2, a run from an earlier process
        self.trained = True
        return self.step(updates)


def _replace_after(run: Any, step: int) -> None:
    """Drop what `run` stored after `step`, if it stored anything there: `run.step`
    is one past the last step the store held when the run was opened (or the
    last step logged since)."""
    if step + 1 < getattr(run, "step", 0):
        run.purge(step + 1)


def lightning_updates(passed: int | None, lightning_default: int | None,
                      updates: int | None) -> int | None:
    """The updates completed behind a step Lightning handed its logger, or None
    when that step is not Lightning's own (kept as given then).

    While it trains, Lightning passes the number of batches that stepped before the
    one it is finishing (`fit_loop.epoch_loop._batches_that_stepped`): one less
    than the updates completed, for the batch's own metrics, its epoch's and the
    validation run after it. When `passed` is that default, the trainer's count
    of updates (`trainer.global_step`) is the step. A step the user chose
    (`self.log("step", ...)`, a direct `log_metrics(..., step=7)`) is not
    Lightning's, and without the trainer (`updates` None) nothing is known.

    >>> lightning_updates(14, 14, 15)       # the metrics of the 15th update
    15
    >>> lightning_updates(0, 0, 0)          # validate() before fit
    0
    >>> lightning_updates(7, 14, 15) is None, lightning_updates(3, None, None) is None
    (True, True)
    """
    if passed is None or passed != lightning_default or updates is None:
        return None
    return updates
