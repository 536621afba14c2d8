"""Access attempts: from a presented credential to a logged decision.

Runs on the daemon loop thread only (it uses the loop's session). For each attempt it gathers the
facts (one indexed probe: PIN digest or sensor slot, through :mod:`controller.store.hotpath`; the site
facts from a cache the daemon refreshes after its own writes; the lockout; what the daemon passes:
tamper hold and clock trust; whether the log accepts writes), asks
:func:`controller.core.policy.decide` (the one decision point), writes the sealed event and the
lockout row in one commit, and tells the caller how long to unlock. It never touches the relay: the
daemon turns a :class:`Grant` into a door-state-machine grant once that commit returned. A grant whose
event could not be stored is decided again with the log unavailable ("no log, no entry").

The keypad reveals nothing: every refused credential (see :data:`NOT_COUNTED` for the two exceptions)
counts toward the lockout and gets the same feedback as an unknown one; only the logged reason differs.

Two factors (``pin_and_finger``): the first factor of a valid person is held for
``door.second_factor_timeout_seconds``; the other factor of the *same* person completes it.
An expired first factor is logged as ``access.denied`` / ``second_factor_required``.

Two persons (``door.two_person_rule``): a valid credential refused as ``second_person_required`` waits
``door.two_person_window_seconds`` for another person's; the door opens on the second. A duress PIN
(``hotpath.Person.duress``) is sealed as a ``duress`` event and a silent alarm before the decision, which
then runs exactly as for the person's PIN (docs/security.md "Duress").

Visitors (``users.escort_group``): a member of staff's valid credential notes their access group as present
for ``door.two_person_window_seconds`` (``_escorts``, monotonic); a visitor whose escort group is not present
is refused as ``escort_required`` (docs/security.md "Visitors").
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from controller.config import Config
from controller.core import lockout as lk
from controller.core.policy import Context, Decision, DoorView, Facts, Method, Reason, decide
from controller.core.vocabulary import GUESSING_ALARM, SUSPENDED_ALARM, AlarmKind, EventType, LockoutChannel
from controller.daemon.journal import Journal
from controller.store import hotpath, models, pins
from controller.timefmt import iso_utc, parse_iso_utc

log = logging.getLogger(__name__)

#: Denial reason of an attempt refused only because its event could not be stored ("no log, no entry").
LOG_UNAVAILABLE = Reason.LOG_UNAVAILABLE.value

#: Refusals that do not count toward the keypad or finger lockout: they refuse every credential alike
#: (the door is in lockdown, or the channel is already locked out), so they say nothing about the one
#: presented, and counting them would only lengthen a lockout while it runs. Every other refusal counts,
#: whatever its reason (unknown, suspended, revoked, expired, not yet valid, outside schedule or holiday,
#: clock untrusted, method not allowed): a person at the door must not learn from the lockout starting
#: or not that a PIN belongs to someone. The event log keeps the true reason for security staff.
#: ``log_unavailable`` is a valid credential refused for want of a log: it counts as a success.
#: ``second_person_required`` is a valid credential waiting for a second person: not a failure either.
#: ``escort_required`` is a visitor's valid credential waiting for their escort: not a failure.
NOT_COUNTED = frozenset({Reason.LOCKED_OUT, Reason.LOCKDOWN, Reason.SECOND_PERSON_REQUIRED, Reason.ESCORT_REQUIRED})


@dataclass(frozen=True)
class Grant:
    """Unlock for ``seconds`` (already chosen from the person's normal or extended time)."""

    seconds: float
    user: str
    method: str
    override_lockdown: bool = False  # granted during a lockdown to a member of the override group


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
    """Decides PIN, finger and remote attempts for one door (see the module docstring).

    :param journal: the daemon's :class:`Journal` (its session is used for lookups).
    :param pepper: PIN pepper (32 bytes).
    :param config: the validated configuration (for a door after the first: its view, ``config.door_view``).
    :param shared: the first door's controller, whose keypad and finger lockouts this door shares (the
        lockout counters belong to the controller, not to one door: docs/security.md). None for the first door.
    """

    def __init__(self, journal: Journal, pepper: bytes, config: Config,
                 shared: AccessController | None = None) -> None:
        self.journal = journal
        self.session = journal.session
        self._pepper = pepper
        self.config = config
        self.tz = ZoneInfo(config.site.timezone)
        self._first: _FirstFactor | None = None
        #: Two-person rule: the first person's code and until when (monotonic) it waits for a second one.
        self._waiting: tuple[str, float] | None = None
        #: Visitors' escorts: access group -> until when (monotonic) its member's last valid credential counts.
        self._escorts: dict[str, float] = {}
        #: Site facts (door, holidays, group schedules), re-read only by :meth:`refresh_site`/:meth:`refresh_door`.
        self.site = self._with_rules(hotpath.load_site(self.session, config.door.name))
        #: The site link is stale and site_link.stale_action = deny_site_people (set by controller/site/link_loop.py).
        self.site_stale = False
        #: Lockout rows whose last write was rolled back (the event could not be stored): written next time.
        self._unsaved: set[str] = set() if shared is None else shared._unsaved
        self._iso_cache: dict[datetime, str] = {}  # failure times already formatted (_iso_times)
        #: This door's key in ``finger_credentials.door`` ('' = the first door).
        self.finger_door = "" if shared is None else config.door.name
        #: Only the first door's controller runs the shared lockouts' timers (each expiry is logged once).
        self._owns_lockouts = shared is None
        if shared is not None:
            self.keypad_lockout, self.finger_lockout = shared.keypad_lockout, shared.finger_lockout
            return
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

    # -- site facts (cached; the daemon is the only writer) --------------------------------------

    def refresh_site(self, now: datetime | None = None) -> DoorView:
        """Re-read every cached site fact (door, holidays, groups, schedules); returns the door.

        The daemon calls this after each of its own admin changes: a decision never reads them.
        """
        self.site = self._with_rules(hotpath.load_site(self.session, self.config.door.name))
        return self.site.door

    def refresh_door(self) -> DoorView:
        """Re-read the door row only (its lockdown flag may be set by an operator); off the decision path."""
        door = self._with_rules(hotpath.load_door(self.session, self.config.door.name))
        if door != self.site.door:
            self.site = dataclasses.replace(self.site, door=door)
        return door

    def _with_rules(self, site_or_door):
        """The configured door rules (lockdown override group, two-person rule) on a door view or site."""
        if isinstance(site_or_door, hotpath.Site):
            return dataclasses.replace(site_or_door, door=self._with_rules(site_or_door.door))
        door = self.config.door
        return dataclasses.replace(site_or_door, lockdown_override_group=door.lockdown_override_group or None,
                                   two_person=door.two_person_rule)

    # -- lockout persistence -----------------------------------------------------------------

    def _lockout(self, channel: str) -> lk.KeypadLockout:
        return self.keypad_lockout if channel == "keypad" else self.finger_lockout

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
        return lk.KeypadLockout.from_state(state, **params)

    def _stage_lockout(self, name: str, before: lk.LockoutState | None = None) -> None:
        """Stage the lockout row for the next event's transaction when its state changed (or a write was lost)."""
        state = self._lockout(name).to_state()
        if state == before and name not in self._unsaved:
            return
        self.journal.stage_lockout(hotpath.LockoutRow(
            name, state.failures, state.level, iso_utc(state.locked_until_utc) if state.locked_until_utc else None,
            json.dumps(self._iso_times(state.failure_times)), state.suspended))
        self._unsaved.add(name)  # until the commit that carries it succeeds

    def _iso_times(self, times: tuple[datetime, ...]) -> list[str]:
        """``times`` as stored (UTC ISO text), each formatted once: a refused PIN adds one failure time to a
        list of up to ``suspend_after_failures_24h`` that is written again whole (docs/performance.md, W2)."""
        cache = self._iso_cache
        out = [cache.get(t) or cache.setdefault(t, iso_utc(t)) for t in times]
        if len(cache) > 2 * len(times) + 64:
            self._iso_cache = dict(zip(times, out))
        return out

    def _committed(self, name: str, logged: bool) -> None:
        if logged:
            self._unsaved.discard(name)

    def _lockout_effects(self, name: str, effects: list, method: Method, now: datetime,
                         ended: dict | None = None) -> None:
        """Log what a lockout change means; the lockout row is saved in the same commit as the first event.
        ``ended``: the ``lockout.ended`` event's fields when an admin ended it early (actor, detail)."""
        self._stage_lockout(name)
        logged = True
        for effect in effects:
            if isinstance(effect, lk.LockoutStarted):
                logged &= self.journal.write(
                    EventType.LOCKOUT_STARTED, method=method.value, time=now,
                    detail={"channel": name, "seconds": round(effect.seconds, 1), "until": iso_utc(effect.until_utc)},
                )
            elif isinstance(effect, lk.Suspended):
                logged &= self.journal.write(EventType.LOCKOUT_STARTED, method=method.value, time=now,
                                             detail={"channel": name, "suspended": True})
                self.journal.raise_alarm(SUSPENDED_ALARM[LockoutChannel(name)],
                                         "too many failures in 24 hours; an admin must clear it")
            elif isinstance(effect, lk.FailureAlarm):  # sealed too: the alarms table is not the log
                logged &= self.journal.write(EventType.LOCKOUT_GUESSING, method=method.value, time=now,
                                             detail={"channel": name, "failures": effect.count,
                                                     "window_seconds": int(effect.window_seconds)})
                self.journal.raise_alarm(GUESSING_ALARM[LockoutChannel(name)],
                                         f"{effect.count} failures in {int(effect.window_seconds)} s")
            elif isinstance(effect, lk.LockoutEnded):
                logged &= self.journal.write(EventType.LOCKOUT_ENDED, method=method.value, time=now,
                                             **(ended or {"detail": {"channel": name}}))
        if not effects:
            logged = self.journal.commit_staged()
        self._committed(name, logged)

    def poll(self, now: datetime, t: float) -> None:
        """Timers: lockout expiry and an unanswered first factor."""
        for name, lockout, method in (("keypad", self.keypad_lockout, Method.PIN),
                                      ("finger", self.finger_lockout, Method.FINGER)):
            if not self._owns_lockouts:
                break
            effects = lockout.poll(now, t)
            if effects:
                self._lockout_effects(name, effects, method, now)
        first = self._first
        if first is not None and t > first.deadline_t:
            self._first = None
            self._log_unanswered(first, now)

    def _log_unanswered(self, first: _FirstFactor, now: datetime) -> None:
        """A first factor that got no second one (timed out, or replaced by someone else's) is a denial."""
        self.journal.write(EventType.ACCESS_DENIED, reason=Reason.SECOND_FACTOR_REQUIRED.value,
                           method=first.method.value, user=first.code, score=first.score, time=now)

    def clear_lockout(self, name: str, now: datetime, *, actor: str | None = None, reason: str | None = None) -> None:
        """End channel ``name``'s lockout and suspension. An admin ending it early (``actor``, ``reason``) is
        named in its one ``lockout.ended`` event (``detail.cleared_by_admin``)."""
        effects = self._lockout(name).clear()
        ended = None if actor is None else {
            "actor": actor, "detail": {"channel": name, "cleared_by_admin": True, "reason": reason}}
        self._lockout_effects(name, effects, Method.PIN if name == "keypad" else Method.FINGER, now, ended)
        self.journal.clear_alarm(SUSPENDED_ALARM[LockoutChannel(name)])

    # -- attempts ------------------------------------------------------------------------------

    def pin(self, pin: str, now: datetime, t: float, *, tamper_hold: bool = False,
            clock_trusted: bool = True) -> Outcome:
        """A submitted PIN (never logged). ``tamper_hold`` and ``clock_trusted`` are the daemon's facts."""
        person = None
        if pin and pin.isascii() and pin.isdigit():  # anything else matches nobody
            person = hotpath.person_by_digest(self.journal.reader(), pins.pin_digest(self._pepper, pin))
        if person is not None and person.duress:  # sealed first: nothing later can stop the alarm
            self.journal.write(EventType.DURESS, method=Method.PIN.value, user=person.code, time=now)
            self.journal.raise_alarm(AlarmKind.DURESS, f"duress PIN of {person.code}")
        return self._attempt(Method.PIN, person, now, t, "keypad", tamper_hold, clock_trusted,
                             detail={"duress": True} if person is not None and person.duress else None)

    def finger(self, slot: int, score: int, now: datetime, t: float, *, tamper_hold: bool = False,
               clock_trusted: bool = True) -> Outcome:
        """The sensor matched ``slot`` with ``score`` (a score below the minimum is not looked up)."""
        person, detail = None, None
        if score >= self.config.sensor.min_match_score:
            person = hotpath.person_by_slot(self.journal.reader(), slot, door=self.finger_door)
            if person is None:
                self.journal.raise_alarm(AlarmKind.ORPHAN_TEMPLATE, f"sensor slot {slot} matched but belongs to nobody")
                detail = {"orphan_slot": slot}
        return self._attempt(Method.FINGER, person, now, t, "finger", tamper_hold, clock_trusted, score, detail)

    def unknown_finger(self, now: datetime, t: float, *, tamper_hold: bool = False,
                       clock_trusted: bool = True) -> Outcome:
        """A finger was read and matched nothing."""
        return self._attempt(Method.FINGER, None, now, t, "finger", tamper_hold, clock_trusted)

    def remote(self, actor: str, now: datetime) -> Decision:
        """An admin's remote unlock, decided and logged like any attempt (the daemon applies a grant)."""
        door = self.refresh_door()
        facts = Facts(Method.REMOTE, None, door, now, Context(self.tz),
                      log_available=self.journal.writable(), no_log_no_entry=self.config.site.no_log_no_entry)
        decision = decide(facts)
        if decision.granted:
            if self.journal.write(EventType.ACCESS_GRANTED, method=Method.REMOTE.value, actor=actor, time=now):
                return decision
            decision = decide(dataclasses.replace(facts, log_available=False))
            if decision.granted:  # no_log_no_entry is off: the event waits in RAM
                return decision
            self.journal.retract(EventType.ACCESS_GRANTED)  # kept in RAM, it must say refused, not granted
        self.journal.write(EventType.ACCESS_DENIED, reason=str(decision.reason), method=Method.REMOTE.value,
                           actor=actor, time=now)
        return decision

    def _attempt(self, method: Method, person: hotpath.Person | None, now: datetime, t: float, channel: str,
                 tamper_hold: bool, clock_trusted: bool, score: int | None = None,
                 detail: dict | None = None) -> Outcome:
        """Gather the facts of one PIN or finger attempt, decide, and conclude (or wait for a second factor)."""
        site = self.site
        waiting = self._waiting if self._waiting is not None and t <= self._waiting[1] else None
        first = self._first
        paired = first is not None and t <= first.deadline_t and first.method != method and person is not None
        if paired:
            self._first = None
            method = Method.PIN_AND_FINGER
            score = score if score is not None else first.score
        facts = Facts(method, site.subject(person), site.door, now,
                      Context(self.tz, site.holidays, clock_trusted, self._lockout(channel).is_locked(now, t)),
                      tamper_hold=tamper_hold, score=score, min_match_score=self.config.sensor.min_match_score,
                      first_factor=first.code if paired else None, log_available=self.journal.writable(),
                      no_log_no_entry=self.config.site.no_log_no_entry, partner=waiting[0] if waiting else None,
                      escort_groups_present=frozenset(g for g, until in self._escorts.items() if t <= until),
                      site_stale=self.site_stale)
        decision = decide(facts)
        self._note_escort(facts, decision, person, t)
        if decision.reason == Reason.SECOND_PERSON_REQUIRED and person is not None:
            if waiting is None or waiting[0] != person.code:  # the same person again keeps the first wait
                self._waiting = (person.code, t + self.config.door.two_person_window_seconds)
        elif decision.granted and waiting is not None:
            self._waiting = None
            detail = {**(detail or {}), "second_person_of": waiting[0]}
        if decision.reason == Reason.SECOND_FACTOR_REQUIRED and person is not None:
            if first is not None:  # the one waiting is replaced: it must not vanish from the log
                self._log_unanswered(first, now)
            self._first = _FirstFactor(person.code, method, t + self.config.door.second_factor_timeout_seconds, score)
            return Outcome(feedback="second_factor", logged=False)
        return self._conclude(decision, facts, person, t, channel, detail)

    def _note_escort(self, facts: Facts, decision: Decision, person: hotpath.Person | None, t: float) -> None:
        """A member of staff's valid credential (granted, or waiting for a second person) counts as their group's
        presence for visitors for ``door.two_person_window_seconds``; a visitor never escorts."""
        if (person is None or person.visitor or facts.subject is None or facts.subject.group is None
                or not (decision.granted or decision.reason == Reason.SECOND_PERSON_REQUIRED)):
            return
        self._escorts = {g: until for g, until in self._escorts.items() if t <= until}
        self._escorts[facts.subject.group] = t + self.config.door.two_person_window_seconds

    def _conclude(self, decision: Decision, facts: Facts, person: hotpath.Person | None, t: float, channel: str,
                  detail: dict | None) -> Outcome:
        """Apply a decision: lockout, the sealed event and the lockout row in one commit, then the outcome."""
        now, method = facts.now, facts.method.value
        code = person.code if person is not None else None
        if decision.rule is not None:
            detail = {**(detail or {}), str(decision.rule): True}
        lockout = self._lockout(channel)
        before = lockout.to_state()
        effects: list = []
        if decision.granted or decision.reason == Reason.LOG_UNAVAILABLE:
            lockout.success(now, t)
        elif decision.reason not in NOT_COUNTED:
            effects = lockout.failure(now, t)
        self._stage_lockout(channel, before)
        if decision.granted:
            logged = self.journal.write(EventType.ACCESS_GRANTED, method=method, user=code, score=facts.score, time=now,
                                        detail=detail, anchor_later=True)
            self._committed(channel, logged)
            if logged or decide(dataclasses.replace(facts, log_available=False)).granted:
                seconds = (self.config.door.extended_unlock_seconds if person is not None and person.extended_unlock
                           else self.config.door.unlock_seconds)
                return Outcome(grant=Grant(seconds, code or "", method, override_lockdown=facts.door.lockdown),
                               feedback="granted", logged=logged)
            log.error("access refused: the event could not be stored (no log, no entry)")
            self.journal.retract(EventType.ACCESS_GRANTED)  # the buffered event must say refused, not granted
            decision = Decision(False, Reason.LOG_UNAVAILABLE)
        logged = self.journal.write(EventType.ACCESS_DENIED, reason=str(decision.reason), method=method, user=code,
                                    score=facts.score, time=now, detail=detail, anchor_later=True)
        self._committed(channel, logged)
        if decision.reason == Reason.LOG_UNAVAILABLE:
            return Outcome(feedback="denied", logged=False)
        if effects:
            self._lockout_effects(channel, effects, Method.PIN if channel == "keypad" else Method.FINGER, now)
        locked = decision.reason == Reason.LOCKED_OUT or any(isinstance(e, lk.LockoutStarted) for e in effects)
        return Outcome(feedback="wait" if locked else "denied", logged=logged)
