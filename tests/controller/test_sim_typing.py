"""``kunci sim press`` on a matrix keypad holds each key until the real scanner has read it
(controller/daemon/hardware.py Simulation): a scanner thread starved by a loaded machine loses no key."""

from __future__ import annotations

import threading

from controller.daemon.hardware import SIM_KEY_HOLD_MS, Simulation
from drivers.keypad_matrix import MatrixKeypad
from drivers.sim_gpio import MatrixKeypadModel

ROWS, COLUMNS = (5, 6, 13, 19), (12, 16, 20)
KEYS = (("1", "2", "3"), ("4", "5", "6"), ("7", "8", "9"), ("*", "0", "#"))


def test_a_scanner_slower_than_a_keystroke_still_reads_every_key_in_order(mock_factory) -> None:
    model = MatrixKeypadModel(mock_factory, ROWS, COLUMNS, KEYS)
    read: list[str] = []
    scanner = MatrixKeypad(ROWS, COLUMNS, KEYS, lambda event: read.append(event.key), debounce_scans=2,
                           pin_factory=mock_factory)
    sim = Simulation(factory=mock_factory, keypad=model, panel=None, sensor=None, scanner=scanner)
    typed = "1123#"
    stop = threading.Event()

    def starved_scanner() -> None:
        # One scan every 2.5 key-holds: a key held only for SIM_KEY_HOLD_MS would never be read twice.
        while not stop.wait(2.5 * SIM_KEY_HOLD_MS / 1000.0):
            scanner.step()

    thread = threading.Thread(target=starved_scanner, daemon=True)
    thread.start()
    try:
        sim.type_keys(typed)
    finally:
        stop.set()
        thread.join(10)
        scanner.close()
    assert "".join(read) == typed
