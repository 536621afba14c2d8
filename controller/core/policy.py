"""Pure access policy: who may open which door, when, and with which credential.

:func:`decide` is a pure function (STYLE rule 4): it reads no clock, does no I/O
and keeps no state. The daemon passes the wall-clock instant ``now`` (an aware
UTC :class:`~datetime.datetime`) and everything it looked up; the answer is a
:class:`Decision` whose ``reason`` is one of the public reason codes in
:class:`Reason` (they appear in the event log and in exports).

Every rule that can refuse or grant is an input here (issue 11): the door's lockdown, the reader's
tamper hold, the channel's lockout, the minimum match score, the pairing of two factors, the person's
status, dates and schedule, the clock's trust, the mode, remote unlock and "no log, no entry". The
daemon gathers these :class:`Facts` and applies the answer; it decides nothing itself.

Dates (``valid_from``/``valid_until``, holidays) and schedule windows are read in
the site timezone (``Context.tz``, a :class:`zoneinfo.ZoneInfo`). ``now`` is
converted from UTC to local wall time first, so a window 08:00-18:00 means
08:00-18:00 on the wall clock on both sides of a DST change, and a converted
instant is always a real local time (no nonexistent or ambiguous time arises).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from enum import StrEnum

__all__ = [
    "Method",
    "DoorMode",
    "Reason",
    "Rule",
    "Window",
    "Schedule",
    "Subject",
    "DoorView",
    "Context",
    "Decision",
    "Facts",
    "decide",
    "schedule_allows",
    "MODE_ACCEPTS",
]

MINUTES_PER_DAY = 1440


class Method(StrEnum):
    """How the credential was presented. ``REMOTE`` is an admin's remote unlock."""

    PIN = "pin"
    FINGER = "finger"
    PIN_AND_FINGER = "pin+finger"
    REMOTE = "remote"


class DoorMode(StrEnum):
    """Which credentials a door (or a person's override) accepts."""

    PIN = "pin"
    FINGER = "finger"
    PIN_OR_FINGER = "pin_or_finger"
    PIN_AND_FINGER = "pin_and_finger"


class Reason(StrEnum):
    """Public reason codes of a decision (``granted`` or why access was denied)."""

    GRANTED = "granted"
    UNKNOWN_CREDENTIAL = "unknown_credential"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    OUTSIDE_SCHEDULE = "outside_schedule"
    HOLIDAY = "holiday"  # the person's schedule does not open on a holiday
    LOCKED_OUT = "locked_out"
    SECOND_FACTOR_REQUIRED = "second_factor_required"
    SECOND_PERSON_REQUIRED = "second_person_required"  # the two-person rule: nobody else presented in time
    ESCORT_REQUIRED = "escort_required"  # a visitor whose escort group has not presented within the window
    LOCKDOWN = "lockdown"
    CLOCK_UNTRUSTED = "clock_untrusted"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    LOG_UNAVAILABLE = "log_unavailable"
    DOOR_NOT_ALLOWED = "door_not_allowed"  # the person's group grants other doors of this controller (issue 16)
    SITE_STALE = "site_stale"  # a person of the site while the site link is stale (site_link.stale_action)


class Rule(StrEnum):
    """Which extra rule refused, when a public reason alone does not say it (goes into the event's detail)."""

    TAMPER = "tamper"
    BELOW_MIN_SCORE = "below_min_score"
    FACTORS_OF_DIFFERENT_PEOPLE = "factors_of_different_people"


#: Methods each door mode accepts outright. A single factor presented at a
#: ``pin_and_finger`` door is answered with ``second_factor_required`` instead.
MODE_ACCEPTS: dict[DoorMode, frozenset[Method]] = {
    DoorMode.PIN: frozenset({Method.PIN, Method.PIN_AND_FINGER}),
    DoorMode.FINGER: frozenset({Method.FINGER, Method.PIN_AND_FINGER}),
    DoorMode.PIN_OR_FINGER: frozenset({Method.PIN, Method.FINGER, Method.PIN_AND_FINGER}),
    DoorMode.PIN_AND_FINGER: frozenset({Method.PIN_AND_FINGER}),
}

#: Single factors that a two-factor door answers with ``second_factor_required``.
_SINGLE_FACTORS = frozenset({Method.PIN, Method.FINGER})

#: ``Subject.status`` values (the ``users.status`` column).
STATUS_ACTIVE = "active"
STATUS_SUSPENDED = "suspended"
STATUS_REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class Window:
    """One weekly time window in local wall time.

    ``weekday``: 0 = Monday .. 6 = Sunday. ``start_minute``: minutes after local
    midnight, 0..1439 (inclusive). ``end_minute``: 1..1440, exclusive; 1440 means
    "to midnight". A window never spans midnight: use two windows instead.
    """

    weekday: int
    start_minute: int
    end_minute: int

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0..6 (Monday..Sunday), got {self.weekday}")
        if not 0 <= self.start_minute <= MINUTES_PER_DAY - 1:
            raise ValueError(f"start_minute must be 0..1439, got {self.start_minute}")
        if not 1 <= self.end_minute <= MINUTES_PER_DAY:
            raise ValueError(f"end_minute must be 1..1440, got {self.end_minute}")
        if self.end_minute <= self.start_minute:
            raise ValueError("a window ends after it starts and never spans midnight (use two windows)")

    def contains(self, weekday: int, minute_of_day: int) -> bool:
        """True when local ``weekday`` and ``minute_of_day`` fall in ``[start, end)``."""
        return weekday == self.weekday and self.start_minute <= minute_of_day < self.end_minute


@dataclass(frozen=True, slots=True)
class Schedule:
    """Weekly windows when a group may enter. Holidays deny unless ``allow_on_holidays`` (default False).

    On a holiday with ``allow_on_holidays`` the ordinary windows still apply.
    """

    windows: tuple[Window, ...]
    allow_on_holidays: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "windows", tuple(self.windows))


@dataclass(frozen=True, slots=True)
class Subject:
    """The person a credential belongs to, as the daemon looked them up.

    ``status`` is ``active``, ``suspended`` or ``revoked`` (any other value is denied
    as ``suspended``: fail-secure). ``valid_from``/``valid_until`` are local dates,
    both inclusive (``valid_until`` is the last valid day, through 23:59:59 local).
    ``schedule`` None means any time. ``mode_override``, when set, replaces the
    door's mode for this person. ``group``: the name of the person's access group, or None.
    ``valid_until_at``: a visitor's validity ends at this aware instant (``expired`` from it on).
    ``escort_group``: a visitor opens only when a member of this group presented within the window.
    ``doors``: the names of the doors the person's group grants; None (default) = every door.
    """

    code: str
    status: str
    valid_from: date | None
    valid_until: date | None
    schedule: Schedule | None
    mode_override: DoorMode | None = None
    group: str | None = None
    valid_until_at: datetime | None = None
    escort_group: str | None = None
    group_mode: DoorMode | None = None  # the factors the person's group requires; the stricter mode applies
    group_two_person: bool = False  # the person's group is under the two-person rule at every door
    doors: frozenset[str] | None = None
    site: bool = False  # copied down from the site (users.origin = 'site'; refused while the site link is stale)

    def __post_init__(self) -> None:
        if self.doors is not None:
            object.__setattr__(self, "doors", frozenset(self.doors))
        if self.mode_override is not None:
            object.__setattr__(self, "mode_override", DoorMode(self.mode_override))
        if self.group_mode is not None:
            object.__setattr__(self, "group_mode", DoorMode(self.group_mode))
        if self.valid_until_at is not None and self.valid_until_at.utcoffset() is None:
            raise ValueError("valid_until_at must be an aware datetime (UTC)")

    @property
    def restricted(self) -> bool:
        """True when access depends on the clock: a schedule, a validity date or a visit's end is set."""
        return (self.schedule is not None or self.valid_from is not None or self.valid_until is not None
                or self.valid_until_at is not None)


@dataclass(frozen=True, slots=True)
class DoorView:
    """What policy needs to know about a door: its ``name``, ``mode`` and ``lockdown`` (default False);
    ``lockdown_override_group``: members of this group may still enter during a lockdown (None: nobody);
    ``two_person``: a credential opens only with another person's valid credential within the window."""

    name: str
    mode: DoorMode
    lockdown: bool = False
    lockdown_override_group: str | None = None
    two_person: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", DoorMode(self.mode))


@dataclass(frozen=True, slots=True)
class Context:
    """Site facts for one decision.

    ``tz``: site timezone (``site.timezone``). ``holidays``: local dates (default none).
    ``clock_trusted``: False when the wall clock has not been confirmed by RTC/NTP
    (default True). ``locked_out``: the channel used (keypad or sensor) is in lockout
    (default False); the daemon computes it from the lockout state machines.
    """

    tz: tzinfo
    holidays: frozenset[date] = frozenset()
    clock_trusted: bool = True
    locked_out: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "holidays", frozenset(self.holidays))


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer: ``granted`` and a public ``reason`` code (``"granted"`` exactly when granted).

    ``reason`` is always a :class:`Reason` member (a ``str``); an unknown code or a
    ``granted`` flag that disagrees with it raises :class:`ValueError`. ``rule`` names the
    extra rule behind a refusal whose reason alone does not say it (:class:`Rule`), else None.
    """

    granted: bool
    reason: str
    rule: str | None = None

    def __post_init__(self) -> None:
        reason = Reason(self.reason)
        object.__setattr__(self, "reason", reason)
        if self.granted != (reason is Reason.GRANTED):
            raise ValueError("a decision is granted exactly when its reason is 'granted'")
        if self.rule is not None:
            object.__setattr__(self, "rule", Rule(self.rule))


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything one decision depends on, gathered by the daemon (nothing here reads a clock).

    ``method``: how the credential was presented (``REMOTE`` for an admin's remote unlock).
    ``subject``: the credential's owner, or None when no credential matched. ``door``: the
    door's mode and lockdown. ``now``: aware UTC instant. ``context``: site timezone, holidays,
    clock trust, the channel's lockout. ``tamper_hold``: the reader's enclosure was opened and
    no admin has acknowledged it yet (default False). ``score``: the sensor's match score for a
    finger (None for a PIN); ``min_match_score``: ``sensor.min_match_score`` (default 0).
    ``first_factor``: the person code of a waiting first factor when this credential completes a
    two-factor attempt (``method`` is then ``PIN_AND_FINGER``), else None. ``log_available``:
    the event log accepts writes; ``no_log_no_entry``: ``site.no_log_no_entry`` (default True).
    ``partner``: at a two-person door, the code of the other person whose valid credential is waiting
    within the window (None: nobody is waiting). ``escort_groups_present``: the access groups of which a
    member (not a visitor) presented a valid credential within ``door.two_person_window_seconds``.
    """

    method: Method
    subject: Subject | None
    door: DoorView
    now: datetime
    context: Context
    tamper_hold: bool = False
    score: int | None = None
    min_match_score: int = 0
    first_factor: str | None = None
    log_available: bool = True
    no_log_no_entry: bool = True
    partner: str | None = None
    escort_groups_present: frozenset[str] = frozenset()
    site_stale: bool = False  # the site link is stale and site_link.stale_action = deny_site_people


def _deny(reason: Reason, rule: Rule | None = None) -> Decision:
    return Decision(False, reason, rule)


_GRANTED = Decision(True, Reason.GRANTED)


def schedule_allows(schedule: Schedule, local_dt: datetime, holidays: frozenset[date] | set[date] = frozenset()) -> bool:
    """True when the local wall time ``local_dt`` falls in one of ``schedule``'s windows.

    Only the wall-clock fields of ``local_dt`` are read (weekday, hour, minute; seconds
    count toward the current minute, so 17:59:59 is inside a window ending at 18:00);
    it may be naive or aware, and a ``fold`` (ambiguous hour) makes no difference.
    A date in ``holidays`` denies unless ``schedule.allow_on_holidays``.
    """
    if local_dt.date() in holidays and not schedule.allow_on_holidays:
        return False
    weekday = local_dt.weekday()
    minute_of_day = local_dt.hour * 60 + local_dt.minute
    return any(w.contains(weekday, minute_of_day) for w in schedule.windows)


def decide(facts: Facts) -> Decision:
    """Decide one access attempt from its :class:`Facts`. Pure: no clock read, no I/O.

    A naive ``facts.now`` raises :class:`ValueError`. Checks run in this order and the first
    failing one wins: lockdown (the door's flag, unless the person is in the door's lockdown override
    group; for a PIN or finger also the tamper hold, rule ``tamper``), then a remote unlock is granted
    (never during a lockdown); locked_out; unknown_credential (no subject; a
    finger below the minimum score, rule ``below_min_score``; a second factor of another person
    than the first, rule ``factors_of_different_people``); revoked; suspended; door_not_allowed (the
    person's ``doors`` do not include this door); not_yet_valid /
    expired (also a visitor past ``valid_until_at``); clock_untrusted (only for a subject restricted by
    schedule, dates or a visit's end); holiday (a schedule that does not open on holidays, on one) /
    outside_schedule; escort_required (a visitor whose ``escort_group`` is not in
    ``escort_groups_present``); the mode
    (``second_factor_required`` / ``method_not_allowed``; the methods accepted are those of the door's mode,
    or the person's override, that the person's group's required mode also accepts: the stricter applies);
    at a two-person door or for a two-person group,
    ``second_person_required`` unless another person's valid credential is waiting (``partner``). A grant
    becomes ``log_unavailable`` while the log refuses writes and ``no_log_no_entry`` is on.
    """
    method = Method(facts.method)
    now, door, context, subject = facts.now, facts.door, facts.context, facts.subject
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("decide() needs an aware datetime for now (UTC)")
    if door.lockdown and not _overrides_lockdown(door, subject, method):
        return _deny(Reason.LOCKDOWN)
    if method is Method.REMOTE:
        return _grant(facts)
    if facts.tamper_hold:
        return _deny(Reason.LOCKDOWN, Rule.TAMPER)
    if context.locked_out:
        return _deny(Reason.LOCKED_OUT)
    if facts.score is not None and facts.score < facts.min_match_score:
        return _deny(Reason.UNKNOWN_CREDENTIAL, Rule.BELOW_MIN_SCORE)
    if subject is None:
        return _deny(Reason.UNKNOWN_CREDENTIAL)
    if facts.first_factor is not None and facts.first_factor != subject.code:
        return _deny(Reason.UNKNOWN_CREDENTIAL, Rule.FACTORS_OF_DIFFERENT_PEOPLE)
    if subject.status == STATUS_REVOKED:
        return _deny(Reason.REVOKED)
    if subject.status != STATUS_ACTIVE:
        return _deny(Reason.SUSPENDED)
    if subject.doors is not None and door.name not in subject.doors:
        return _deny(Reason.DOOR_NOT_ALLOWED)
    if subject.site and facts.site_stale:
        return _deny(Reason.SITE_STALE)

    local = now.astimezone(context.tz)
    today = local.date()
    if subject.valid_from is not None and today < subject.valid_from:
        return _deny(Reason.NOT_YET_VALID)
    if subject.valid_until is not None and today > subject.valid_until:
        return _deny(Reason.EXPIRED)
    if subject.valid_until_at is not None and now >= subject.valid_until_at:
        return _deny(Reason.EXPIRED)
    if subject.restricted and not context.clock_trusted:
        return _deny(Reason.CLOCK_UNTRUSTED)
    if subject.schedule is not None and not schedule_allows(subject.schedule, local, context.holidays):
        holiday = today in context.holidays and not subject.schedule.allow_on_holidays
        return _deny(Reason.HOLIDAY if holiday else Reason.OUTSIDE_SCHEDULE)
    if subject.escort_group is not None and subject.escort_group not in facts.escort_groups_present:
        return _deny(Reason.ESCORT_REQUIRED)

    mode = subject.mode_override if subject.mode_override is not None else door.mode
    accepts = MODE_ACCEPTS[mode] & MODE_ACCEPTS[subject.group_mode] if subject.group_mode else MODE_ACCEPTS[mode]
    if method in accepts:
        if (door.two_person or subject.group_two_person) and facts.partner in (None, subject.code):
            return _deny(Reason.SECOND_PERSON_REQUIRED)
        return _grant(facts)
    if accepts == MODE_ACCEPTS[DoorMode.PIN_AND_FINGER] and method in _SINGLE_FACTORS:
        return _deny(Reason.SECOND_FACTOR_REQUIRED)
    return _deny(Reason.METHOD_NOT_ALLOWED)


def _overrides_lockdown(door: DoorView, subject: Subject | None, method: Method) -> bool:
    """A person of the door's lockdown override group presenting their own credential (never remote)."""
    return (method is not Method.REMOTE and subject is not None and door.lockdown_override_group is not None
            and subject.group == door.lockdown_override_group)


def _grant(facts: Facts) -> Decision:
    """Every rule allows it; "no log, no entry" (DESIGN §6) still refuses while the log refuses writes."""
    if not facts.log_available and facts.no_log_no_entry:
        return _deny(Reason.LOG_UNAVAILABLE)
    return _GRANTED
