"""A CSV line per training step: the numbers of a loss curve.

    trainer = Trainer(..., on_step=StepLog("run.steps.csv"))

Columns: epoch (1-based), step (within the epoch), global_step, lr, then each of the objective's
running sums (but "seen") for that step alone, divided by the step's images: the classifier's
loss and correct (the step's accuracy), the style objectives' loss, content, style and tv. The
file is appended to, so a resumed run continues its curve; the header is written once, when the
file is new or empty.
"""
import csv
import os


class StepLog:
    """on_step callback of a Trainer writing one CSV row per step to `path`."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self._previous = None

    def __call__(self, trainer):
        names = trainer.objective.sum_names
        if trainer.step == 1:  # the running sums restart with every epoch
            self._previous = [0.0] * len(names)
        elif self._previous is None:  # resumed in mid-epoch: this step's share is unknown
            self._previous = list(trainer.sums)
            return
        step = [now - before for now, before in zip(trainer.sums, self._previous)]
        self._previous = list(trainer.sums)
        seen = step[names.index("seen")] or 1
        values = {name: value / seen for name, value in zip(names, step) if name != "seen"}
        new = not os.path.exists(self.path) or os.path.getsize(self.path) == 0
        with open(self.path, "a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(["epoch", "step", "global_step", "lr"] + list(values))
            writer.writerow([trainer.epoch + 1, trainer.step, trainer.global_step,
                             f"{trainer.optimizer.lr:.6g}"] + [f"{v:.6g}" for v in values.values()])
