"""Make an admin change from a local tool (CLI, demo seeding): through the daemon, or in process
under the same single-writer lock when no daemon runs (issue 10 item 1; docs/internals.md "One writer, one sealer").

:func:`apply` first asks the door daemon (``admin`` over the control socket), which applies the
operation on its loop thread and seals its event in the same transaction. When no daemon answers
and the single-writer lock (``DATA/run/daemon.lock``) is free, it takes that lock and runs the
same :func:`controller.store.admin_ops.run` in this process, seals the events and commits: one code
path, two places it can run, never two writers. A daemon that holds the lock but does not answer
is an error; nothing is changed.
"""

from __future__ import annotations

import logging
import os
from typing import Any
from zoneinfo import ZoneInfo

from controller.config import Config
from controller.control.client import ControlClient
from controller.errors import DaemonUnavailable, DataDirError, SecretsError
from controller.i18n import T
from controller.paths import DataDir
from controller.store import admin_ops, anchor, audit, keys
from controller.timefmt import utcnow

log = logging.getLogger(__name__)

#: Seconds to wait for the daemon's answer to one change.
CHANGE_TIMEOUT_SECONDS = 15.0
#: Seconds to wait for a bulk import of people (``user.import``): longer than the daemon waits for its loop.
IMPORT_TIMEOUT_SECONDS = 150.0


def local_account() -> str:
    """The account this process runs as, as an actor name (``cli:root``): what the daemon records for it."""
    from controller.control.actors import local_actor
    from controller.control.server import Peer

    return local_actor(Peer(os.getpid(), os.getuid(), os.getgid()))


def apply(datadir: DataDir, op: str, params: dict[str, Any] | None = None, *, actor: str | None = None,
          config: Config | None = None) -> dict[str, Any]:
    """Apply admin operation ``op`` with ``params``; returns the operation's result.

    ``actor`` and ``config`` are used only in process (the daemon records the connecting account
    itself and uses its own configuration); defaults ``cli:<this account>`` and ``DATA/kunci.toml``. Raises the operation's refusal (:class:`KunciError`) or
    :class:`DaemonUnavailable` when the daemon holds the data directory but does not answer.
    """
    if not datadir.root.is_dir():
        raise DataDirError(T("{path} does not exist; run 'kunci init' first", path=datadir.root))
    client = ControlClient(datadir.socket_path,
                           timeout=IMPORT_TIMEOUT_SECONDS if op == "user.import" else CHANGE_TIMEOUT_SECONDS)
    try:
        return client.call("admin", op=op, params=params or {})
    except DaemonUnavailable as exc:
        unreachable = exc
    lock = audit.SealerLock(datadir)
    if not lock.try_acquire():
        raise DaemonUnavailable(T("{error}; the door daemon holds {path} but did not answer, so nothing was changed "
                                  "(if it is stopping, try again)", error=unreachable, path=datadir.root))
    try:
        return _apply_here(datadir, op, params or {}, actor or local_account(), config)
    finally:
        lock.release()


def _apply_here(datadir: DataDir, op: str, params: dict[str, Any], actor: str,
                config: Config | None) -> dict[str, Any]:
    """The in-process path; the caller holds the single-writer lock."""
    from controller.config import load_config
    from controller.store.db import open_database, session_factory

    config = config or load_config(datadir.config_file)
    try:
        key = keys.load_audit_key(datadir)
    except SecretsError as exc:
        raise SecretsError(T("{error}; with the door daemon stopped, admin changes must be run as its account "
                             "(they are sealed into the entry log with its audit key)", error=exc)) from exc
    try:
        pepper: bytes | None = keys.load_pepper(datadir)
    except SecretsError:
        pepper = None  # only operations that issue a PIN need it; they say so
    engine = open_database(datadir, config.store.url, busy_timeout_ms=config.store.busy_timeout_ms)
    try:
        now = utcnow()
        ctx = admin_ops.OpContext(actor=actor, config=config, pepper=pepper,
                                  today=now.astimezone(ZoneInfo(config.site.timezone)).date(), now=now)
        with session_factory(engine)() as session:
            audit.seal_as_written(session, key)
            with session.begin():
                result = admin_ops.run(session, op, params, ctx)
            anchor.record_head(datadir, session)  # the new head, kept outside the database too
        return result
    finally:
        engine.dispose()
