"""Access attempts: from a presented credential to a logged decision.

Runs on the daemon loop thread only (it uses the loop's session). For each attempt it looks the
credential up (one indexed query: PIN digest or sensor slot), builds the pure policy inputs,
calls :func:`controller.core.policy.decide`, writes the sealed event, updates the keypad or finger
lockout, and tells the caller how long to unlock. It never touches the relay itself: the daemon
turns a :class:`Grant` into a door-state-machine grant, after the event is committed when
``site.no_log_no_entry`` is on (the default).

The keypad reveals nothing: every refused credential (see :data:`NOT_COUNTED` for the two exceptions)
counts toward the lockout and gets the same feedback as an unknown one; only the logged reason differs.

Two factors (``pin_and_finger``): the first factor of a valid person is held for
``door.second_factor_timeout_seconds``; the other factor of the *same* person completes it.
An expired first factor is logged as ``access.denied`` / ``second_factor_required``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from controller.core import lockout as lk
from controller.store import models, pins
from controller.config import Config
from controller.daemon.journal import Journal
from controller.store.people import subject_for
from controller.core.policy import Context, Decision, DoorMode, DoorView, Method, Reason, decide
from controller.timefmt import iso_utc, parse_iso_utc, utcnow

log = logging.getLogger(__name__)

#: Denial reason of an attempt refused only because its event could not be stored ("no log, no entry").
#: Not a policy decision (controller.core.policy never returns it); written when the log accepts writes again.
LOG_UNAVAILABLE = "log_unavailable"

#: Refusals that do not count toward the keypad or finger lockout: they refuse every credential alike
#: (the door is in lockdown, or the channel is already locked out), so they say nothing about the one
#: presented, and counting them would only lengthen a lockout while it runs. Every other refusal counts,
#: whatever its reason (unknown, suspended, revoked, expired, not yet valid, outside schedule or holiday,
#: clock untrusted, method not allowed): a person at the door must not learn from the lockout starting
#: or not that a PIN belongs to someone. The event log keeps the true reason for security staff.
NOT_COUNTED = frozenset({Reason.LOCKED_OUT, Reason.LOCKDOWN})


@dataclass(frozen=True)
class Grant:
    """Unlock for ``seconds`` (already chosen from the person's normal or extended time)."""

    seconds: float
    user: str
    method: str


@dataclass(frozen=True)
class Outcome:
    """What the daemon should do after an attempt: unlock (``grant``), feedback, or nothing yet."""

    grant: Grant | None = None
    feedback: str = "denied"  # granted | denied | wait | second_factor | none
    logged: bool = True


@dataclass
class _FirstFactor:
    code: str
    method: Method
    deadline_t: float
    score: int | None


class AccessController:
    """Decides PIN and finger attempts for one door (see the module docstring).

    :param session_journal: the daemon's :class:`Journal` (its session is used for lookups).
    :param pepper: PIN pepper (32 bytes).
    :param config: the validated configuration.
    :param clock_trusted: callable returning whether the wall clock may be used for schedules.
    """

    def __init__(self, journal: Journal, pepper: bytes, config: Config, clock_trusted: Callable[[], bool]) -> None:
        self.journal = journal
        self.session = journal.session
        self._pepper = pepper
        self.config = config
        self.tz = ZoneInfo(config.site.timezone)
        self._clock_trusted = clock_trusted
        self._first: _FirstFactor | None = None
        # Site facts cached off the decision path; the daemon refreshes them twice a second.
        self._site_door: DoorView | None = None
        self._site_day: date | None = None
        self._site_holidays: frozenset[date] = frozenset()
        self._saved_lockouts: dict[str, lk.LockoutState] = {}
        journal.rollback_listeners.append(self.forget_saved_lockouts)
        pin_cfg = config.pin
        self.keypad_lockout = self._load_lockout(
            "keypad",
            lockout_after_failures=pin_cfg.lockout_after_failures,
            lockout_base_seconds=pin_cfg.lockout_base_seconds,
            lockout_max_seconds=pin_cfg.lockout_max_seconds,
            alarm_after_failures=pin_cfg.alarm_after_failures,
            alarm_window_seconds=pin_cfg.alarm_window_seconds,
            suspend_after_failures_24h=pin_cfg.suspend_after_failures_24h,
        )
        sensor_cfg = config.sensor
        self.finger_lockout = self._load_lockout(
            "finger",
            lockout_after_failures=sensor_cfg.failed_matches_before_delay,
            lockout_base_seconds=sensor_cfg.failed_match_delay_seconds,
            lockout_max_seconds=sensor_cfg.failed_match_delay_seconds,
            alarm_after_failures=max(sensor_cfg.failed_matches_before_delay * 2, 10),
            alarm_window_seconds=pin_cfg.alarm_window_seconds,
            suspend_after_failures_24h=50,
        )

    # -- lockout persistence -----------------------------------------------------------------

    def _load_lockout(self, name: str, **params: float) -> lk.KeypadLockout:
        row = self.session.get(models.LockoutState, name)
        if row is None:
            return lk.KeypadLockout(**params)
        state = lk.LockoutState(
            failures=row.failures,
            level=row.level,
            locked_until_utc=parse_iso_utc(row.locked_until) if row.locked_until else None,
            failure_times=tuple(parse_iso_utc(s) for s in json.loads(row.failure_times or "[]")),
            suspended=bool(row.suspended),
        )
        lockout = lk.KeypadLockout.from_state(state, **params)
        self._saved_lockouts[name] = lockout.to_state()
        return lockout

    def _save_lockout(self, name: str, lockout: lk.KeypadLockout) -> None:
        """Write the lockout row in the caller's transaction, only when the state changed."""
        state = lockout.to_state()
        if self._saved_lockouts.get(name) == state:
            return
        row = self.session.get(models.LockoutState, name)
        if row is None:
            row = models.LockoutState(name=name)
            self.session.add(row)
        row.failures = state.failures
        row.level = state.level
        row.locked_until = iso_utc(state.locked_until_utc) if state.locked_until_utc else None
        row.failure_times = json.dumps([iso_utc(t) for t in state.failure_times])
        row.suspended = state.suspended
        self._saved_lockouts[name] = state

    def forget_saved_lockouts(self) -> None:
        """After a rollback the rows may not hold what we last wrote: write them again next time."""
        self._saved_lockouts.clear()

    def _lockout_effects(self, name: str, effects: list, method: Method, now: datetime) -> None:
        """Log what a lockout change means; the lockout row is saved in the same commit as the event."""
        lockout = self.keypad_lockout if name == "keypad" else self.finger_lockout
        self._save_lockout(name, lockout)
        for effect in effects:
            if isinstance(effect, lk.LockoutStarted):
                self.journal.write(
                    "lockout.started", method=method.value, time=now,
                    detail={"channel": name, "seconds": round(effect.seconds, 1), "until": iso_utc(effect.until_utc)},
                )
            elif isinstance(effect, lk.Suspended):
                self.journal.write("lockout.started", method=method.value, time=now,
                                   detail={"channel": name, "suspended": True})
                self.journal.raise_alarm(f"{name}_suspended", "too many failures in 24 hours; an admin must clear it")
            elif isinstance(effect, lk.FailureAlarm):
                self.journal.raise_alarm(f"{name}_guessing", f"{effect.count} failures in {int(effect.window_seconds)} s")
            elif isinstance(effect, lk.LockoutEnded):
                self.journal.write("lockout.ended", method=method.value, time=now, detail={"channel": name})
        if not effects:
            self.session.commit()

    def poll(self, now: datetime, t: float) -> None:
        """Timers: lockout expiry and an unanswered first factor."""
        for name, lockout, method in (("keypad", self.keypad_lockout, Method.PIN),
                                      ("finger", self.finger_lockout, Method.FINGER)):
            effects = lockout.poll(now, t)
            if effects:
                self._lockout_effects(name, effects, method, now)
        first = self._first
        if first is not None and t > first.deadline_t:
            self._first = None
            self._log_unanswered(first, now)

    def _log_unanswered(self, first: _FirstFactor, now: datetime) -> None:
        """A first factor that got no second one (timed out, or replaced by someone else's) is a denial."""
        self.journal.write("access.denied", reason=Reason.SECOND_FACTOR_REQUIRED.value,
                           method=first.method.value, user=first.code, score=first.score, time=now)

    def clear_lockout(self, name: str, now: datetime) -> None:
        lockout = self.keypad_lockout if name == "keypad" else self.finger_lockout
        effects = lockout.clear()
        self._lockout_effects(name, effects, Method.PIN if name == "keypad" else Method.FINGER, now)
        self.journal.clear_alarm(f"{name}_suspended")

    # -- attempts ------------------------------------------------------------------------------

    def pin(self, pin: str, now: datetime, t: float) -> Outcome:
        """A submitted PIN (never logged)."""
        locked = self.keypad_lockout.is_locked(now, t)
        user = pins.find_user_by_pin(self.session, self._pepper, pin)
        return self._attempt(Method.PIN, user, now, t, locked_out=locked, channel="keypad")

    def finger(self, slot: int, score: int, now: datetime, t: float) -> Outcome:
        """The sensor matched ``slot`` with ``score``."""
        locked = self.finger_lockout.is_locked(now, t)
        if score < self.config.sensor.min_match_score:
            return self._attempt(Method.FINGER, None, now, t, locked_out=locked, channel="finger", score=score,
                                 detail={"below_min_score": True})
        cred = self.session.scalar(
            select(models.FingerCredential).where(models.FingerCredential.slot == slot,
                                                  models.FingerCredential.state == "active")
        )
        if cred is None:
            self.journal.raise_alarm("orphan_template", f"sensor slot {slot} matched but belongs to nobody")
            return self._attempt(Method.FINGER, None, now, t, locked_out=locked, channel="finger", score=score,
                                 detail={"orphan_slot": slot})
        return self._attempt(Method.FINGER, cred.user, now, t, locked_out=locked, channel="finger", score=score)

    def unknown_finger(self, now: datetime, t: float) -> Outcome:
        """A finger was read and matched nothing."""
        locked = self.finger_lockout.is_locked(now, t)
        return self._attempt(Method.FINGER, None, now, t, locked_out=locked, channel="finger")

    def refresh_site(self, now: datetime) -> DoorView:
        """Re-read the door row (mode, lockdown) and the holidays around today; returns the door.

        The daemon calls this twice a second and before an exit request or remote unlock, so an
        admin's change in another process takes effect within half a second, while a decision
        itself reads only the person (revocations count from the very next attempt).
        """
        door = self.session.scalar(select(models.Door).where(models.Door.name == self.config.door.name))
        if door is None:  # the configured name has no row: fall back to the seeded one, never crash
            door = self.session.scalar(select(models.Door).order_by(models.Door.id).limit(1))
        if door is None:
            view = DoorView(name=self.config.door.name, mode=DoorMode.PIN_OR_FINGER, lockdown=True)
        else:
            view = DoorView(name=door.name, mode=DoorMode(door.mode), lockdown=bool(door.lockdown))
        local = now.astimezone(self.tz).date()
        self._site_holidays = frozenset(self.session.scalars(
            select(models.Holiday.day).where(models.Holiday.day.between(local - timedelta(days=1),
                                                                        local + timedelta(days=1)))
        ).all())
        self._site_day = local
        self._site_door = view
        return view

    def _door(self, now: datetime | None = None) -> DoorView:
        if self._site_door is None:
            return self.refresh_site(now or utcnow())
        return self._site_door

    def _context(self, now: datetime, locked_out: bool) -> Context:
        if self._site_day != now.astimezone(self.tz).date():
            self.refresh_site(now)
        return Context(tz=self.tz, holidays=self._site_holidays, clock_trusted=self._clock_trusted(),
                       locked_out=locked_out)

    def _attempt(self, method: Method, user: models.User | None, now: datetime, t: float, *, locked_out: bool,
                 channel: str, score: int | None = None, detail: dict | None = None) -> Outcome:
        door = self._door()
        context = self._context(now, locked_out)
        subject = subject_for(user, self.session)
        first = self._first
        if first is not None and t <= first.deadline_t and first.method != method and user is not None:
            self._first = None
            if first.code != user.code:
                decision = Decision(False, Reason.UNKNOWN_CREDENTIAL)
                detail = {**(detail or {}), "factors_of_different_people": True}
            else:
                decision = decide(Method.PIN_AND_FINGER, subject, door, now, context)
            method = Method.PIN_AND_FINGER
            score = score if score is not None else first.score
        else:
            decision = decide(method, subject, door, now, context)
            if decision.reason == Reason.SECOND_FACTOR_REQUIRED and user is not None:
                if first is not None:  # the one waiting is replaced: it must not vanish from the log
                    self._log_unanswered(first, now)
                self._first = _FirstFactor(user.code, method, t + self.config.door.second_factor_timeout_seconds, score)
                return Outcome(feedback="second_factor", logged=False)
        return self._conclude(decision, method, user, now, t, channel=channel, score=score, detail=detail)

    def _conclude(self, decision: Decision, method: Method, user: models.User | None, now: datetime, t: float, *,
                  channel: str, score: int | None, detail: dict | None) -> Outcome:
        code = user.code if user is not None else None
        lockout = self.keypad_lockout if channel == "keypad" else self.finger_lockout
        lock_method = Method.PIN if channel == "keypad" else Method.FINGER
        if decision.granted:
            lockout.success(now, t)
            self._save_lockout(channel, lockout)
            seconds = (self.config.door.extended_unlock_seconds if user is not None and user.extended_unlock
                       else self.config.door.unlock_seconds)
            logged = self.journal.write("access.granted", reason=None, method=method.value, user=code, score=score,
                                        time=now, detail=detail)
            if not logged and self.config.site.no_log_no_entry:
                log.error("access refused: the event could not be stored (no log, no entry)")
                # The buffered event must say what happened: refused, not granted.
                self.journal.retract("access.granted")
                self.journal.write("access.denied", reason=LOG_UNAVAILABLE, method=method.value,
                                   user=code, score=score, time=now, detail=detail)
                return Outcome(feedback="denied", logged=False)
            return Outcome(grant=Grant(seconds, code or "", method.value), feedback="granted", logged=logged)
        effects: list = []
        if decision.reason not in NOT_COUNTED:
            effects = lockout.failure(now, t)
        self._save_lockout(channel, lockout)
        logged = self.journal.write("access.denied", reason=str(decision.reason), method=method.value, user=code,
                                    score=score, time=now, detail=detail)
        if effects:
            self._lockout_effects(channel, effects, lock_method, now)
        locked = decision.reason == Reason.LOCKED_OUT or any(isinstance(e, lk.LockoutStarted) for e in effects)
        return Outcome(feedback="wait" if locked else "denied", logged=logged)
