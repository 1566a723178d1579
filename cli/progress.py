"""Rich progress on stderr for long jobs: one line per model (stage, model, epoch, devel score)."""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from musefuse.cli.common import err


class RichReporter:
    """Implements musefuse.core.graph.pipeline.Reporter with a rich Progress; use as a context manager."""

    def __init__(self, enabled: bool = True) -> None:
        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}", style="bold"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[score]}"), TimeElapsedColumn(),
            console=err, disable=not enabled, transient=False,
        )
        self.task = None
        self.metric = "devel CCC"

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._close()
        self.progress.stop()

    def _close(self) -> None:
        if self.task is not None:
            done = self.progress.tasks[self.task].completed  # early stopping ends a bar before its total
            self.progress.update(self.task, total=max(done, 1), completed=max(done, 1))
            self.task = None

    def start(self, label: str, max_epochs: int, metric: str = "devel CCC") -> None:
        self._close()
        self.metric = metric
        self.task = self.progress.add_task(label, total=max_epochs, score="")

    def epoch(self, epoch: int, score: float) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=epoch, score=f"{self.metric} {score:.3f}")

    def finish(self, message: str) -> None:
        self._close()

    def log(self, message: str) -> None:
        self.progress.console.print(message, highlight=False, markup=False)
