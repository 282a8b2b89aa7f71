"""Console and log file output, and progress bars for long work."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class Reporter:
    """Writes every message to the console and, when given, to a log file; shows
    transient progress bars that disappear when their task is done."""

    def __init__(self, log_path: Path | None = None, console: Console | None = None,
                 quiet: bool = False):
        self.console = console or Console(stderr=True, quiet=quiet)
        self.log_path = log_path
        self.texts = {"encoded": 0, "from_cache": 0}  # LM texts, over everything reported
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), TimeRemainingColumn(),
                                  console=self.console, transient=True)

    def __enter__(self) -> Reporter:
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def log(self, message: str) -> None:
        self.console.print(message, markup=False, highlight=False, soft_wrap=True)
        self.note(message)

    def note(self, message: str) -> None:
        """Write to the log file only: what a reader of the log wants, not the console."""
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "a") as handle:
                handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")

    def bar(self, description: str, total: int) -> Callable[[int], None]:
        """Start a bar; the returned function advances it and removes it when full. When
        the console is no terminal (a log, a pipe), a line every 30 s says how far it is."""
        task = self._progress.add_task(description, total=total)
        say = None if self.console.is_terminal else self.every(30.0, wait=True)
        done, started = [0], time.monotonic()

        def advance(steps: int = 1) -> None:
            self._progress.advance(task, steps)
            done[0] += steps
            if say is not None and done[0] < total:
                rate = done[0] / max(time.monotonic() - started, 1e-9)
                say(f"{description}: {done[0]:,}/{total:,} ({rate:,.1f}/s, about "
                    f"{duration((total - done[0]) / rate)} left)")
            if self._progress.tasks[self._progress.task_ids.index(task)].finished:
                self._progress.remove_task(task)
        return advance

    def every(self, seconds: float = 10.0, wait: bool = False) -> Callable[[str], None]:
        """A progress line for long work: the first message (with ``wait``, the first
        after ``seconds``) and then at most one per ``seconds`` reach the console and
        the log."""
        last = [time.monotonic() if wait else -float("inf")]

        def say(message: str) -> None:
            if time.monotonic() - last[0] >= seconds:
                last[0] = time.monotonic()
                self.log(message)
        return say


def duration(seconds: float) -> str:
    """``seconds`` as a person reads it: 45 s, 12 min, 3.5 h."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
