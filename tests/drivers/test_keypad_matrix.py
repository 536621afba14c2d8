"""The real MatrixKeypad driven through the MatrixKeypadModel on gpiozero's MockFactory."""

from __future__ import annotations

import threading

import pytest

from drivers.events import DriverEvent, KeyPressed
from drivers.keypad_matrix import MatrixKeypad
from drivers.sim_gpio import MatrixKeypadModel

ROWS_4 = [5, 6, 13, 19]
COLS_3 = [12, 16, 20]
COLS_4 = [12, 16, 20, 21]
KEYS_3X4 = [["1", "2", "3"], ["4", "5", "6"], ["7", "8", "9"], ["*", "0", "#"]]
KEYS_4X4 = [["1", "2", "3", "A"], ["4", "5", "6", "B"], ["7", "8", "9", "C"], ["*", "0", "#", "D"]]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def build(mock_factory, clock, cols=COLS_3, keys=KEYS_3X4, **kwargs):
    events: list[DriverEvent] = []
    model = MatrixKeypadModel(mock_factory, ROWS_4, cols, keys)
    keypad = MatrixKeypad(ROWS_4, cols, keys, events.append, pin_factory=mock_factory, clock=clock, **kwargs)
    return model, keypad, events


def steps(keypad: MatrixKeypad, clock: FakeClock, n: int) -> None:
    for _ in range(n):
        clock.now += 0.010
        keypad.step()


def test_type_pin_gives_exact_key_sequence(mock_factory, clock) -> None:
    model, keypad, events = build(mock_factory, clock)
    with keypad:
        times = []
        for key in "123456#":
            model.press(key)
            steps(keypad, clock, 5)
            times.append(events[-1].t if events else None)
            model.release(key)
            steps(keypad, clock, 5)
    assert events == [KeyPressed(k, t) for k, t in zip("123456#", times)]
    # Accepted on the 3rd scan of each press: 10 scans of 10 ms per key.
    assert times[1] - times[0] == pytest.approx(0.100)


@pytest.mark.parametrize(
    ("cols", "keys"),
    [(COLS_3, KEYS_3X4), (COLS_4, KEYS_4X4)],
    ids=["3x4", "4x4"],
)
def test_every_key_of_the_grid_reads_alone(mock_factory, clock, cols, keys) -> None:
    model, keypad, events = build(mock_factory, clock, cols=cols, keys=keys)
    with keypad:
        assert keypad.scan_once() == frozenset()
        for row in keys:
            for key in row:
                model.press(key)
                assert keypad.scan_once() == {key}
                model.release(key)
        assert keypad.scan_once() == frozenset()


def test_rows_idle_high_z_and_scan_low(mock_factory, clock) -> None:
    model, keypad, _ = build(mock_factory, clock)
    with keypad:
        keypad.scan_once()
        for number in ROWS_4:
            pin = mock_factory.pin(number)
            assert pin.function == "input"  # never driven high against a pressed neighbour
            assert [s.state for s in pin.states][-2:] == [False, True]  # driven low once, then released


def test_bouncing_key_gives_one_key(mock_factory, clock) -> None:
    model, keypad, events = build(mock_factory, clock)
    with keypad:
        # Press, release, press within 20 ms (two 10 ms scans), then held, then a chattering release.
        for held in [True, False, True, True, True, True, False, True, False, False, False, False]:
            (model.press if held else model.release)("8")
            steps(keypad, clock, 1)
    assert [e.key for e in events] == ["8"]


@pytest.mark.parametrize(
    ("combo", "ghost"),
    [(("1", "2"), None), (("1", "2", "4"), "5"), (("5", "6", "8"), "9"), (("2", "0"), None)],
)
def test_held_ghost_combo_gives_no_key(mock_factory, clock, combo, ghost) -> None:
    model, keypad, events = build(mock_factory, clock)
    with keypad:
        model.hold(combo)
        scan = keypad.scan_once()
        assert set(combo) <= scan
        if ghost:
            assert ghost in scan  # the matrix really ghosts; the debouncer must not trust it
        steps(keypad, clock, 20)
        # Letting go of all but one key does not accept the remaining key...
        model.hold(combo[-1:])
        steps(keypad, clock, 20)
        model.hold(())
        steps(keypad, clock, 5)
        # ...but after a full release the keypad works again.
        model.press("7")
        steps(keypad, clock, 5)
    assert [e.key for e in events] == ["7"]


def test_scanner_thread_with_human_typing(mock_factory) -> None:
    got: list[str] = []
    done = threading.Event()

    def sink(event: DriverEvent) -> None:
        assert isinstance(event, KeyPressed)
        got.append(event.key)
        if len(got) == 3:
            done.set()

    model = MatrixKeypadModel(mock_factory, ROWS_4, COLS_3, KEYS_3X4)
    with MatrixKeypad(ROWS_4, COLS_3, KEYS_3X4, sink, scan_interval_ms=5, pin_factory=mock_factory) as keypad:
        keypad.start()
        keypad.start()  # idempotent
        # Generous hold/gap (many scans each) so a loaded machine still sees every press and release.
        model.type_keys("90#", key_ms=200, gap_ms=200)
        assert done.wait(5.0)
    assert got == ["9", "0", "#"]


def test_close_is_idempotent_and_frees_the_pins(mock_factory, clock) -> None:
    model, keypad, _ = build(mock_factory, clock)
    keypad.start()
    keypad.close()
    keypad.close()
    assert keypad.closed
    with pytest.raises(RuntimeError):
        keypad.scan_once()
    # The pins are free again: a new keypad can claim them.
    MatrixKeypad(ROWS_4, COLS_3, KEYS_3X4, lambda e: None, pin_factory=mock_factory).close()


@pytest.mark.parametrize(
    ("rows", "cols", "keys"),
    [
        (ROWS_4, COLS_3, KEYS_3X4[:3]),
        (ROWS_4, COLS_4, KEYS_3X4),
        (ROWS_4, [12, 16, 5], KEYS_3X4),
        (ROWS_4, COLS_3, [["1", "2", "3"], ["4", "5", "6"], ["7", "8", "9"], ["*", "0", "##"]]),
        (ROWS_4, COLS_3, [["1", "2", "3"], ["4", "5", "6"], ["7", "8", "9"], ["*", "1", "#"]]),
    ],
    ids=["too-few-rows", "too-few-legends", "pin-twice", "two-char-legend", "duplicate-legend"],
)
def test_bad_layout_is_refused(mock_factory, rows, cols, keys) -> None:
    with pytest.raises(ValueError):
        MatrixKeypad(rows, cols, keys, lambda e: None, pin_factory=mock_factory)


def test_model_must_come_first(mock_factory) -> None:
    keypad = MatrixKeypad(ROWS_4, COLS_3, KEYS_3X4, lambda e: None, pin_factory=mock_factory)
    with keypad, pytest.raises(RuntimeError, match="before the keypad"):
        MatrixKeypadModel(mock_factory, ROWS_4, COLS_3, KEYS_3X4)


def test_simulated_pins_keep_a_bounded_history(mock_factory) -> None:
    """A demo scans the simulated keypad for days: pin histories must not grow without bound."""
    from drivers.sim_gpio import PIN_HISTORY_MAX, SimPin

    pin = mock_factory.pin(4, pin_class=SimPin)
    pin.function = "output"
    for i in range(PIN_HISTORY_MAX * 3):
        pin.state = bool(i % 2)
    assert len(pin.states) <= PIN_HISTORY_MAX
    assert pin.states[-1].state == pin.state  # the newest change is kept
