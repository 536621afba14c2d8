"""Progress and rate of a streaming command (export, chain verification) on stderr, on a terminal only.

``Progress(label)`` counts rows as the command goes (:meth:`Progress.add`); when stderr is a
terminal it redraws one line at most every :data:`REDRAW_S` seconds (``label: 120,000 rows,
48,000 rows/s``) and ends with the total and the mean rate. When stderr is not a terminal
(scripts, pipes, cron) it prints nothing, so the command's output and exit code are unchanged.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from controller.i18n import _

#: Seconds between two redraws of the progress line.
REDRAW_S = 0.25


class Progress:
    """Counts rows of one streaming command; shows them on ``stream`` (default stderr) if it is a tty."""

    def __init__(self, label: str, *, stream: TextIO | None = None, unit: str | None = None) -> None:
        self.label = label
        self.unit = unit if unit is not None else _("rows")  # in the reader's language
        self.stream = stream if stream is not None else sys.stderr
        self.shown = bool(getattr(self.stream, "isatty", lambda: False)())
        self.count = 0
        self.started = time.monotonic()
        self._drawn = self.started

    def add(self, rows: int = 1) -> None:
        """``rows`` more done; redraw the line if it is time."""
        self.count += rows
        if self.shown:
            now = time.monotonic()
            if now - self._drawn >= REDRAW_S:
                self._drawn = now
                self.stream.write("\r" + _("{label}: {count} {unit}, {rate} {unit}/s").format(
                    label=self.label, count=f"{self.count:,}", unit=self.unit, rate=f"{self.rate(now):,.0f}"))
                self.stream.flush()

    def rate(self, now: float | None = None) -> float:
        """Rows per second so far."""
        elapsed = (now if now is not None else time.monotonic()) - self.started
        return self.count / elapsed if elapsed > 0 else 0.0

    def done(self) -> None:
        """The final line: total, seconds and mean rate (terminal only)."""
        if self.shown:
            seconds = time.monotonic() - self.started
            self.stream.write("\r" + _("{label}: {count} {unit} in {seconds} s ({rate} {unit}/s)").format(
                label=self.label, count=f"{self.count:,}", unit=self.unit, seconds=f"{seconds:.1f}",
                rate=f"{self.rate():,.0f}") + "\n")
            self.stream.flush()


class CountingWriter:
    """A text stream that passes writes to ``out`` and counts its lines into ``progress``."""

    def __init__(self, out: TextIO, progress: Progress) -> None:
        self.out = out
        self.progress = progress

    def write(self, text: str) -> int:
        lines = text.count("\n")
        if lines:
            self.progress.add(lines)
        return self.out.write(text)

    def flush(self) -> None:
        self.out.flush()
