"""What the daemon builds, checks and records when it starts and stops (docs/internals.md
"Start-up and stop of the daemon's log"): the door state machine, the database (refused if missing,
empty or damaged), the anchor check, ``daemon.recovered`` after an unclean stop, and spilling events
the database refused at an orderly stop. Called by
:class:`controller.daemon.loop.Daemon`; the loop thread only.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from controller import __version__
from controller.config import Config
from controller.core.door_state import DoorStateMachine
from controller.core.vocabulary import AlarmKind, EventType
from controller.daemon.journal import Journal
from controller.errors import DataLost, StoreError
from controller.i18n import T
from controller.paths import DataDir
from controller.store import anchor as anchors
from controller.store import audit, db
from controller.store.models import Event

log = logging.getLogger(__name__)


def door_machine(config: Config) -> DoorStateMachine:
    """The pure door state machine with the ``[door]`` settings."""
    door = config.door
    return DoorStateMachine(
        unlock_seconds=door.unlock_seconds, max_unlock_seconds=door.max_unlock_seconds,
        relock_on_close=door.relock_on_close, held_open_seconds=door.held_open_seconds,
        held_open_prealarm_seconds=door.held_open_prealarm_seconds,
        forced_open_grace_seconds=door.forced_open_grace_seconds, exit_unlocks=door.exit_unlocks)


def ensure_door_rows(session: Session, names: list[str]) -> None:
    """A ``doors`` row for each door after the first that has none yet (mode: the default, no lockdown), so each
    door has its own mode and lockdown from its first start; the daemon commits it. The first door keeps the
    seeded row, as before."""
    from controller.store.models import Door

    have = set(session.scalars(select(Door.name).where(Door.name.in_(names)))) if names else set()
    for name in names:
        if name not in have:
            session.add(Door(name=name))
            log.info("door %s: added its row to the database", name)
    session.flush()


def open_checked_database(datadir: DataDir, config: Config) -> Engine:
    """Open the door database (never created here), check its integrity and migrate it.

    A damaged file keeps the door locked: :class:`StoreError` says why, and the file is not modified.
    """
    engine = db.open_database(datadir, config.store.url, busy_timeout_ms=config.store.busy_timeout_ms)
    integrity = db.check_integrity(engine)
    if integrity != "ok":
        problems = [line for line in integrity.splitlines() if not line.startswith("***")] or ["damaged"]
        engine.dispose()
        raise StoreError(T("database integrity check failed ({problem}); the door stays locked. Restore a backup "
                           "(docs/reliability.md); the file was not modified", problem=problems[0][:120]))
    db.upgrade_database(engine)
    return engine


def check_anchor(datadir: DataDir, session: Session, accept_truncated_log: bool) -> dict[str, Any] | None:
    """Compare the newest head of the anchor file with the database (docs/reliability.md).

    The database must still hold the anchor's seq with its MAC; otherwise committed events were
    lost (a deleted ``kunci.db-wal`` after a crash, rows deleted, an old file put back) and the
    daemon refuses to start (fail-secure: the door stays locked and the evidence untouched) unless
    ``accept_truncated_log``, when the returned detail is logged as ``log.truncated``.
    """
    kept = anchors.newest(datadir)
    try:
        problem = anchors.compare(session, kept) if kept is not None else None
        last = audit.head(session)
    finally:
        session.rollback()
    if problem is None:
        return None
    if not accept_truncated_log:
        raise DataLost(T(
            "the entry log lost committed events: {problem} ({path}). The door "
            "stays locked and nothing was written. Restore the newest backup (docs/backup.md), or start "
            "with 'kunci run --accept-truncated-log' to carry on with the log as it is (the loss is "
            "then logged as log.truncated and raised as an alarm; docs/reliability.md)",
            problem=problem, path=datadir.anchor_file))
    log.critical("starting on a truncated entry log (--accept-truncated-log): %s", problem)
    return {"problem": problem, "anchor_seq": kept.seq, "anchor_mac": kept.mac, "anchor_time": kept.time,
            "log_head_seq": last[0] if last else 0}


def log_unclean_stop(journal: Journal) -> None:
    """``daemon.recovered`` when the previous run did not stop cleanly (it logged ``daemon.started``
    and never ``daemon.stopped``: killed, crashed, power cut)."""
    session = journal.session
    last_run = session.scalar(
        select(Event.type).where(Event.type.in_((EventType.DAEMON_STARTED, EventType.DAEMON_STOPPED)),
                                 Event.seq.is_not(None))
        .order_by(Event.seq.desc()).limit(1))
    last = audit.head(session)
    session.commit()
    if last_run == EventType.DAEMON_STARTED:
        log.warning("the previous run did not stop cleanly; the last sealed event is seq %s", last[0] if last else 0)
        journal.write(EventType.DAEMON_RECOVERED, actor="daemon", detail={"last_seq": last[0] if last else 0})


def record_start(journal: Journal, truncated: dict[str, Any] | None, simulated: bool, clock_trusted: bool) -> None:
    """``log.truncated`` (and its alarm) when started on a truncated log, then ``daemon.started``."""
    if truncated is not None:
        journal.write(EventType.LOG_TRUNCATED, actor="daemon", detail=truncated)
        journal.raise_alarm(AlarmKind.LOG_TRUNCATED, truncated["problem"][:200])
    journal.write(EventType.DAEMON_STARTED, actor="daemon",
                  detail={"version": __version__, "simulated": simulated, "clock_trusted": clock_trusted})


def spill_unstored(journal: Journal, path: Path) -> None:
    """An orderly stop while the database refuses writes: keep the RAM-buffered events on disk."""
    if journal.flush():  # one last try
        return
    try:
        journal.spill(path)
    except OSError as exc:
        log.critical("%d events were never stored and could not be saved to %s (%s): they are LOST",
                     journal.buffered, path, exc.strerror or exc)


def release(journal: Journal | None, engine: Engine | None, anchor: anchors.AnchorWriter | None,
            lock: audit.SealerLock | None) -> None:
    """At the end of a stop: close the session, the engine, the anchor file and the sealer lock (each if set)."""
    if journal is not None:
        journal.close()
        try:
            journal.session.close()
        except SQLAlchemyError:
            log.debug("closing the session failed", exc_info=True)
    if engine is not None:
        engine.dispose()
    if anchor is not None:
        anchor.close()
    if lock is not None:
        lock.release()
