"""A door daemon stepped by the test on an injected clock: logic tests with no sleeps and no real time.

:class:`SteppedDaemon` builds the real :class:`~controller.daemon.loop.Daemon` (real database, journal,
access controller, door state machine, gpiozero relay on the MockFactory) with a :class:`FakeClock` for
both its monotonic and its wall clock, starts it with :meth:`Daemon.start` and runs it with
:meth:`Daemon.step` instead of the loop thread. Inputs are the drivers' own events, put on the daemon's
queue as a driver would; time moves only when the test calls :meth:`SteppedDaemon.advance`, which steps
the daemon after every tick so its timers fire in order. The sensor is off (the sensor service is a
thread of its own; its tests keep real threads).

The end-to-end tests (tests/e2e, the ``*_process`` tests, :mod:`tests.controller.daemon_harness`) keep the
real threads and real time; this harness is for the rules that depend on time.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from controller.config import Config
from controller.daemon.loop import Daemon
from controller.paths import DataDir
from drivers import events as ev
from tests.controller.daemon_harness import fast_config

#: Where the injected wall clock starts: a weekday morning, inside any office-hours schedule.
START_WALL = datetime(2026, 3, 4, 9, 0, tzinfo=timezone.utc)
#: The clock advances in ticks of this many seconds, the daemon stepped after each.
TICK_SECONDS = 0.05


class FakeClock:
    """A monotonic clock and an aware UTC wall clock that move only when told (together, or the wall alone)."""

    def __init__(self, wall: datetime = START_WALL) -> None:
        self.t = 1000.0
        self._wall = wall

    def monotonic(self) -> float:
        return self.t

    def wall(self) -> datetime:
        return self._wall

    def move(self, seconds: float) -> None:
        self.t += seconds
        self._wall += timedelta(seconds=seconds)

    def jump_wall(self, by: timedelta) -> None:
        """Set the wall clock forward or back (a wrong clock corrected by NTP, an admin's mistake)."""
        self._wall += by


def stepped_config(**overrides: Any) -> Config:
    """:func:`fast_config` with the sensor off (see the module docstring)."""
    sensor = {"enabled": False, **overrides.pop("sensor", {})}
    return fast_config(sensor=sensor, **overrides)


class SteppedDaemon:
    """The real daemon driven turn by turn. Use as a context manager (or call :meth:`close`)."""

    def __init__(self, datadir: DataDir, config: Config | None = None, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        self.config = config or stepped_config()
        self.daemon = Daemon(datadir, self.config, clock=self.clock.monotonic, wall=self.clock.wall)
        self.daemon.start()
        self.daemon.step()

    def __enter__(self) -> SteppedDaemon:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.daemon.shutdown()

    # -- inputs, as the drivers deliver them ------------------------------------------------------

    def put(self, event: ev.DriverEvent) -> None:
        """Queue one driver event stamped now and step the daemon."""
        self.daemon.queue.put(event)
        self.daemon.step()

    def type(self, keys: str, gap: float = 0.2) -> None:
        """Type ``keys`` on the keypad, ``gap`` seconds apart (debounced keys, as the keypad driver reports)."""
        for key in keys:
            self.put(ev.KeyPressed(key, self.clock.t))
            self.advance(gap)

    def door(self, open_: bool) -> None:
        self.put(ev.DoorContact(open_, self.clock.t))

    def exit_button(self) -> None:
        self.put(ev.ExitPressed(self.clock.t))

    def command(self, name: str, **params: Any) -> dict[str, Any]:
        """Run a control command on the loop as the control socket does (queued, handled by :meth:`step`)."""
        from controller.daemon.loop import Command

        command = Command(name, params)
        self.daemon.queue.put(command)
        self.daemon.step()
        ok, value = command.reply.get_nowait()
        if not ok:
            raise value
        return value

    # -- time ---------------------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward in ticks, stepping the daemon after each."""
        remaining = seconds
        while remaining > 1e-9:
            tick = min(TICK_SECONDS, remaining)
            self.clock.move(tick)
            remaining -= tick
            self.daemon.step()

    # -- what a person notices --------------------------------------------------------------------

    @property
    def relay_on(self) -> bool:
        assert self.daemon.hw is not None
        return self.daemon.hw.relay.is_unlocked

    @property
    def relay_pin(self) -> Any:
        assert self.daemon.hw is not None
        return self.daemon.hw.sim.factory.pin(self.config.gpio.relay_pin)

    def status(self) -> dict[str, Any]:
        return self.daemon.status()
