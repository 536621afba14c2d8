"""Matrix keypad (3x4 or 4x4 membrane) scanned from Python on gpiozero pins.

Wiring (docs/install-pi.md "2. Wiring"): each row line goes to a GPIO used as the scan output, each column line to a
GPIO input with the internal pull-up, so a column reads low only while the row being scanned is
driven low and a key joins the two. Idle rows are *high-Z* (inputs with a weak pull-up), not driven
high, so two keys pressed in one column cannot short a high row against the low one; one row at a
time is switched to output and driven low while every column is read. A scanner thread does this
every ``scan_interval_ms`` and feeds :class:`~drivers.keypad_logic.MatrixDebouncer`, which accepts a
key only when it is the sole key down for ``debounce_scans`` scans (ghost combinations yield nothing).

Each accepted key is handed to ``on_event`` as :class:`~drivers.events.KeyPressed`. Key values are
never logged: they are PIN digits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from gpiozero import GPIODevice, InputDevice

from drivers.events import EventSink, KeyPressed
from drivers.keypad_logic import MatrixDebouncer
from drivers.keys import KEYS_TEXT, VALID_KEYS
from drivers.polling import PollingThread

log = logging.getLogger(__name__)


class _RowLine(GPIODevice):
    """One matrix row: an input with pull-up while idle (high-Z), an output driven low while scanned."""

    def __init__(self, pin: int, *, pin_factory: Any = None) -> None:
        super().__init__(pin, pin_factory=pin_factory)
        try:
            self.release()
        except BaseException:
            self.close()
            raise

    def select(self) -> None:
        """Drive the row low so the keys on it pull their columns low."""
        self.pin.function = "output"
        self.pin.state = False

    def release(self) -> None:
        """Return the row to high-Z: an input held up only by the weak internal pull-up."""
        self.pin.function = "input"
        # Some backends drop the bias when the line is re-claimed as an input; re-set it only then
        # (with lgpio setting a pull frees and re-claims the line: not something to do 400 times a second).
        if self.pin.pull != "up":
            self.pin.pull = "up"


class MatrixKeypad:
    """A row/column key matrix scanned by a background thread; reports each debounced key once.

    :param row_pins: GPIO numbers (BCM) of the row lines, top row first (``[keypad] row_pins``,
        default ``[5, 6, 13, 19]``).
    :param column_pins: GPIO numbers (BCM) of the column lines, left column first
        (``[keypad] column_pins``, default ``[12, 16, 20]``).
    :param keys: the key legends, one sequence of single characters per row, each as long as
        ``column_pins`` (``[keypad] keys``); characters from ``0-9 * # A B C D``.
    :param on_event: called with :class:`KeyPressed` from the scanner thread; must be cheap and
        thread-safe (e.g. ``queue.Queue.put``).
    :param scan_interval_ms: time between full scans (milliseconds, default 10; 10-20 is usual).
    :param debounce_scans: consecutive scans a key must be seen alone to count, and the matrix seen
        empty before the next key counts (count, default 3).
    :param pin_factory: gpiozero pin factory (default None = gpiozero's default, i.e. the real GPIO).
    :param clock: monotonic time source in seconds used for ``KeyPressed.t`` (default
        ``time.monotonic``).

    The scanner starts with :meth:`start`; :meth:`scan_once` and :meth:`step` do one scan on the
    caller's thread (tests use them instead of sleeping). :meth:`close` stops the thread and releases
    the pins; it is idempotent and also runs on leaving a ``with`` block.
    """

    def __init__(
        self,
        row_pins: Sequence[int],
        column_pins: Sequence[int],
        keys: Sequence[Sequence[str]],
        on_event: EventSink,
        *,
        scan_interval_ms: float = 10,
        debounce_scans: int = 3,
        pin_factory: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keys = _check_layout(row_pins, column_pins, keys)
        if scan_interval_ms <= 0:
            raise ValueError(f"scan_interval_ms must be > 0, not {scan_interval_ms}")
        self._on_event = on_event
        self._interval_s = scan_interval_ms / 1000.0
        self._debouncer = MatrixDebouncer(debounce_scans)
        self._clock = clock
        self._scan_lock = threading.Lock()
        self._poller = PollingThread("kunci-keypad-matrix", self._interval_s, self.step)
        self._closed = False
        #: Keys accepted since start (a count only, never which keys: the simulator waits on it).
        self.accepted = 0
        self._rows: list[_RowLine] = []
        self._columns: list[InputDevice] = []
        try:
            for pin in row_pins:
                self._rows.append(_RowLine(pin, pin_factory=pin_factory))
            for pin in column_pins:
                self._columns.append(InputDevice(pin, pull_up=True, pin_factory=pin_factory))
        except BaseException:
            self.close()
            raise
        log.info("matrix keypad on rows %s, columns %s", list(row_pins), list(column_pins))

    @property
    def keys(self) -> tuple[tuple[str, ...], ...]:
        """The key legends, row by row."""
        return self._keys

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._closed

    def scan_once(self) -> frozenset[str]:
        """Scan every row once and return the keys that read as down (no debouncing)."""
        with self._scan_lock:
            if self._closed:
                raise RuntimeError("MatrixKeypad is closed")
            down: set[str] = set()
            for legends, row in zip(self._keys, self._rows):
                row.select()
                try:
                    # No settle delay: a Python pin read takes far longer than the RC time of the
                    # line (tens of µs vs ~5 µs with the internal pull-up).
                    for legend, column in zip(legends, self._columns):
                        if column.is_active:
                            down.add(legend)
                finally:
                    row.release()
            return frozenset(down)

    def step(self) -> str | None:
        """Do one scan, feed the debouncer and emit a :class:`KeyPressed` if a key was accepted.

        This is exactly what the scanner thread does every interval; returns the key (or None).
        """
        down = self.scan_once()
        t = self._clock()  # when the scan's reading is known: a key cannot be decided on before that
        key = self._debouncer.feed(down, t)
        if key is not None:
            self.accepted += 1
            self._on_event(KeyPressed(key=key, t=t))
        return key

    @property
    def ready(self) -> bool:
        """True when the scanner will accept the next key pressed alone (the previous one was released)."""
        return self._debouncer.armed

    def start(self) -> None:
        """Start the scanner thread (a daemon thread); does nothing if it already runs."""
        if self._closed:
            raise RuntimeError("MatrixKeypad is closed")
        self._poller.start()

    def close(self) -> None:
        """Stop the scanner and release every pin (rows return to inputs). Safe to call twice."""
        self._poller.stop()
        with self._scan_lock:
            if self._closed:
                return
            self._closed = True
            for device in [*self._rows, *self._columns]:
                device.close()
            self._rows.clear()
            self._columns.clear()

    def __enter__(self) -> MatrixKeypad:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _check_layout(
    row_pins: Sequence[int], column_pins: Sequence[int], keys: Sequence[Sequence[str]]
) -> tuple[tuple[str, ...], ...]:
    """Validate the pin lists against the legend grid; return the legends as tuples."""
    if not row_pins or not column_pins:
        raise ValueError("a matrix keypad needs at least one row pin and one column pin")
    pins = [*row_pins, *column_pins]
    if len(set(pins)) != len(pins):
        raise ValueError(f"keypad pins must be distinct: rows {list(row_pins)}, columns {list(column_pins)}")
    if len(keys) != len(row_pins):
        raise ValueError(f"keys has {len(keys)} rows but there are {len(row_pins)} row pins")
    grid = tuple(tuple(row) for row in keys)
    for i, row in enumerate(grid):
        if len(row) != len(column_pins):
            raise ValueError(f"keys row {i} has {len(row)} keys but there are {len(column_pins)} column pins")
        bad = [k for k in row if k not in VALID_KEYS]
        if bad:
            raise ValueError(f"keys row {i} has invalid legends {bad}; use single characters from {KEYS_TEXT}")
    flat = [k for row in grid for k in row]
    if len(set(flat)) != len(flat):
        raise ValueError("each key legend may appear only once")
    return grid
