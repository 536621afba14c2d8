"""The simulated module's flash: stored templates, one file per slot under ``flash_dir``.

A mixin of :class:`drivers.sim_sensor.PtySensorSimulator`: it uses the simulator's ``flash_dir``,
``capacity`` and ``_templates`` (``{slot: bytes}``). A restarted daemon finds its enrolments because
:meth:`FlashStore._load_flash` reads ``slot-NNNN.tpl`` files at start; writes go through a temporary
file and ``os.replace`` (a slot file is complete or absent).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


class FlashStore:
    """Template storage of the simulated module (mixin; see the module docstring)."""

    flash_dir: Path | None
    capacity: int
    _templates: dict[int, bytes]

    def _slot_file(self, slot: int) -> Path:
        assert self.flash_dir is not None
        return self.flash_dir / f"slot-{slot:04d}.tpl"

    def _load_flash(self) -> None:
        if self.flash_dir is None:
            return
        self.flash_dir.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.flash_dir.glob("slot-*.tpl")):
            try:
                slot = int(path.stem.split("-", 1)[1])
            except ValueError:
                continue
            if 0 <= slot < self.capacity:
                self._templates[slot] = path.read_bytes()
        log.debug("simulated flash: %d templates loaded from %s", len(self._templates), self.flash_dir)

    def _write_slot(self, slot: int, data: bytes) -> None:
        if not 0 <= slot < self.capacity:
            raise ValueError(f"slot {slot} outside 0..{self.capacity - 1}")
        self._templates[slot] = bytes(data)
        if self.flash_dir is not None:
            self.flash_dir.mkdir(parents=True, exist_ok=True)
            tmp = self._slot_file(slot).with_suffix(".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, self._slot_file(slot))

    def _erase_slot(self, slot: int) -> None:
        self._templates.pop(slot, None)
        if self.flash_dir is not None:
            try:
                self._slot_file(slot).unlink()
            except FileNotFoundError:
                pass
