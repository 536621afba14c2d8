"""One daemon, up to four doors (issue 16): the per-door part of the loop's state.

Each configured door (:attr:`controller.config.Config.door_setups`) gets a :class:`DoorUnit`: its drivers
(:class:`~controller.daemon.hardware.Hardware`), its capped relay, its door state machine, its PIN entry, its
sensor state and tamper hold, its :class:`~controller.daemon.access.AccessController` (its own door row,
mode, lockdown, second-factor and two-person waits) and a view of the journal that puts ``door=<name>`` on
every event it writes (:class:`DoorJournal`). What the doors share: the loop thread, the session and the
sealed log, the alarms, the alert destinations, and the keypad and finger lockout counters (a guesser who
walks to the next keypad keeps counting; docs/security.md).

The first door's unit is the daemon's own ``door``, ``hw``, ``access``... (one door behaves as before); its
journal is the daemon's journal itself, whose default door is already the first door's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from controller.config import Config, door_view
from controller.core.pin_entry import PinEntry
from controller.daemon import startup
from controller.errors import InvalidInput
from controller.i18n import T

if TYPE_CHECKING:
    from controller.daemon.access import AccessController
    from controller.daemon.effects import CappedRelay
    from controller.daemon.fingers import Fingers
    from controller.daemon.hardware import Hardware
    from controller.daemon.journal import Journal


class DoorJournal:
    """The daemon's :class:`~controller.daemon.journal.Journal` as one door writes to it: every event gets
    ``door=<name>`` unless the caller names one. Everything else is the shared journal's."""

    def __init__(self, journal: Journal, name: str) -> None:
        self._journal = journal
        self.door = name

    def __getattr__(self, name: str) -> Any:
        return getattr(self._journal, name)

    def write(self, type: Any, **fields: Any) -> bool:  # noqa: A002 - the journal's own signature
        fields.setdefault("door", self.door)
        return self._journal.write(type, **fields)


@dataclass
class DoorUnit:
    """Everything the loop keeps for one door (see the module docstring)."""

    index: int
    name: str
    #: The configuration as this door sees it (:func:`controller.config.door_view`).
    config: Config
    door: Any  # DoorStateMachine
    pin_entry: PinEntry
    sensor_state: str
    tamper_hold: bool = False
    hw: Hardware | None = None
    relay: CappedRelay | None = None
    access: AccessController | None = None
    journal: Any = None  # Journal (first door) or DoorJournal
    fingers: Fingers | None = None

    @property
    def finger_door(self) -> str:
        """This door's key in ``finger_credentials.door`` ('' = the first door)."""
        return "" if self.index == 0 else self.name


def make_units(config: Config) -> list[DoorUnit]:
    """A unit per configured door, in config order (hardware, relay and access are filled at start-up)."""
    units = []
    for i, setup in enumerate(config.door_setups):
        view = config if i == 0 else door_view(config, setup)
        units.append(DoorUnit(
            index=i, name=setup.name, config=view, door=startup.door_machine(view),
            pin_entry=PinEntry(view.pin.max_entry_digits, view.pin.inter_digit_timeout_seconds),
            sensor_state="disabled" if not view.sensor.enabled else "starting"))
    return units


def pick(units: list[DoorUnit], params: dict[str, Any]) -> DoorUnit:
    """The unit a command's optional ``door`` parameter names (default: the first door)."""
    name = params.get("door")
    if name is None or name == "":
        return units[0]
    for unit in units:
        if unit.name == name:
            return unit
    raise InvalidInput(T("no door named {door} on this controller (doors: {doors})", door=str(name)[:40],
                         doors=", ".join(u.name for u in units)))
