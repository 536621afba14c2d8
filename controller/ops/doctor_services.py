"""``kunci doctor``'s checks that open things (docs/install-pi.md): the configuration, the database and its
audit chain, the daemon's control socket, and the fingerprint sensor (probed only while no daemon owns it).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller.config import Config, load_config
from controller.errors import ConfigError, DaemonUnavailable, KunciError
from controller.i18n import T
from controller.ops.doctor_findings import Finding, fail, ok, warn
from controller.ops.install_plan import DOOR_USER, GROUP
from controller.paths import DataDir

#: Reply deadline for the sensor probe (seconds): password check and parameters answer in < 0.1 s.
SENSOR_PROBE_TIMEOUT_SECONDS = 1.0


def check_database(engine: Any) -> Finding:
    """``PRAGMA quick_check`` and the schema revision (read with one SELECT and compared with the shipped
    head without importing Alembic, as the daemon's start does: Alembic's import was ~0.3 s of doctor)."""
    from controller.store.db import _stored_revision, check_integrity, shipped_head

    result = check_integrity(engine)
    if result != "ok":
        return fail("database", T("integrity check failed: {result}", result=result.splitlines()[0]),
                    T("stop the daemon (the door stays locked) and restore the newest backup; keep the damaged file"))
    revision, head = _stored_revision(engine), shipped_head()
    if revision != head:
        return warn("database",
                    T("schema at revision {revision}, this version expects {head}", revision=revision, head=head),
                    T("sudo -u kunci-door kunci db upgrade (the daemon also does it when it starts)"))
    return ok("database", T("integrity ok, schema revision {revision}", revision=revision))


def check_sqlite_file(datadir: DataDir) -> list[Finding]:
    """The database and audit findings of a plain SQLite data directory over one read-only ``sqlite3``
    connection: the same checks as :func:`check_database` and :func:`check_audit` without importing SQLAlchemy
    (0.3-0.5 s of doctor on the bench VM, docs/performance.md)."""
    import sqlite3

    from controller.store.revision import shipped_head

    try:
        conn = sqlite3.connect(f"file:{datadir.db_file}?mode=ro", uri=True)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
            result = "\n".join(str(r[0]) for r in rows) or "ok"
            has = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
                               ).fetchone()
            versions = conn.execute("SELECT version_num FROM alembic_version").fetchall() if has else []
            revision = versions[0][0] if len(versions) == 1 else None
            if result != "ok":
                database = fail("database", T("integrity check failed: {result}", result=result.splitlines()[0]),
                                T("stop the daemon (the door stays locked) and restore the newest backup; keep the "
                                  "damaged file"))
            elif revision != shipped_head():
                database = warn("database",
                                T("schema at revision {revision}, this version expects {head}",
                                  revision=revision, head=shipped_head()),
                                T("sudo -u kunci-door kunci db upgrade (the daemon also does it when it starts)"))
            else:
                database = ok("database", T("integrity ok, schema revision {revision}", revision=revision))
            return [database, _audit(datadir, conn)]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return [fail("database", T("cannot read {path}: {error}", path=datadir.db_file, error=exc),
                     T("run doctor as kunci-door or root; if the file is damaged, restore the newest backup")),
                warn("audit", T("chain not verified: the database cannot be opened"), T("see the database finding"))]


def _audit(datadir: DataDir, conn: Any) -> Finding:
    """:func:`check_audit` over a read-only ``sqlite3`` connection (controller/store/chain_check.py)."""
    from controller.errors import SecretsError
    from controller.store import chain_check
    from controller.store.keys import load_audit_key

    try:
        key = load_audit_key(datadir)
    except SecretsError as exc:
        return _key_finding(exc)
    try:
        kept = chain_check.newest_kept(datadir.anchor_file)
    except OSError as exc:
        return warn("audit", T("chain not checked against the anchor file: {error}", error=exc),
                    T("run as the {user} user: sudo -u {user} kunci doctor", user=DOOR_USER))
    reader = chain_check.SqliteReader(conn)
    conn.execute("BEGIN")  # one snapshot for the tail and the comparison
    try:
        tail = chain_check.verify_tail(reader, key)
        truncated = chain_check.compare_kept(reader, kept) if kept is not None and tail.result.ok else None
    finally:
        conn.execute("COMMIT")
    return _audit_finding(datadir, tail, truncated)


def _key_finding(exc: Exception) -> Finding:
    if isinstance(exc.__cause__, PermissionError):
        return warn("audit", T("the audit key is not readable by this user, chain not verified"),
                    T("run as the {user} user: sudo -u {user} kunci doctor", user=DOOR_USER))
    return warn("audit", T("chain not verified: {error}", error=exc), T("fix the secrets finding first"))


def check_audit(engine: Any, datadir: DataDir, newest: int | None = None) -> Finding:
    """Verify the newest events of the chain with the audit key (needs read access to ``secrets/audit.key``)
    and compare the anchor file's newest head with the database.

    Only the newest ``newest`` sealed events (default :data:`controller.store.chain_check.TAIL_EVENTS`) are
    re-MACed, chained from the stored MAC of the row before them, so doctor answers in bounded time at any
    log size (the whole chain took 26 s at a million events); ``kunci audit verify`` checks the whole chain.
    A broken link in that tail, an unsealed row, or a truncation against the anchor file still FAILs.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from controller.errors import SecretsError, StoreError
    from controller.store.audit_verify import verify_tail
    from controller.store.chain_check import TAIL_EVENTS
    from controller.store.db import session_factory
    from controller.store.keys import load_audit_key

    try:
        key = load_audit_key(datadir)
    except SecretsError as exc:
        return _key_finding(exc)
    from controller.store import anchor

    try:
        kept = anchor.newest(datadir)  # before the snapshot: a head is appended only after its commit
    except StoreError as exc:
        return warn("audit", T("chain not checked against the anchor file: {error}", error=exc),
                    T("run as the {user} user: sudo -u {user} kunci doctor", user=DOOR_USER))
    try:
        with session_factory(engine, readonly=True)() as session, session.begin():
            tail = verify_tail(session, key, TAIL_EVENTS if newest is None else newest)
            result = tail.result
            truncated = anchor.compare(session, kept) if kept is not None and result.ok else None
    except SQLAlchemyError as exc:
        return fail("audit", T("cannot read the event chain: {error}", error=str(exc).splitlines()[0]),
                    T("see the database finding"))
    return _audit_finding(datadir, tail, truncated)


def _audit_finding(datadir: DataDir, tail: Any, truncated: str | None) -> Finding:
    """The audit finding of a verified tail (``chain_check.TailResult``) and the anchor comparison."""
    result = tail.result
    incident = T("treat as an incident: compare with your last off-device anchor (`kunci audit verify --anchor "
                 "SEQ:MAC`), keep a copy of the database, find who had write access")
    if not result.ok:
        if result.first_bad_seq is None:
            return fail("audit", T("event chain BROKEN (unsealed rows): {problem}", problem=result.problem), incident)
        return fail("audit", T("event chain BROKEN at seq {seq}: {problem}", seq=result.first_bad_seq,
                               problem=result.problem), incident)
    if truncated is not None:
        return fail("audit",
                    T("event chain BROKEN: {truncated} (anchor file {anchor_file})",
                      truncated=truncated, anchor_file=datadir.anchor_file),
                    T("{incident}; docs/reliability.md (a log that lost committed events)", incident=incident))
    head = f"head seq={result.head_seq} mac={result.head_mac_hex[:16]}..." if result.head_mac_hex else str(T("empty"))
    if tail.verified < tail.total:
        return ok("audit",
                  T("event chain intact: newest {verified} of {total} events verified; run `kunci audit verify` for "
                    "the whole chain, {head}", verified=tail.verified, total=tail.total, head=head))
    return ok("audit", T("event chain intact: {checked} events, {head}", checked=result.checked, head=head))


def check_daemon(socket_path: Path, timeout: float = 3.0) -> tuple[Finding, dict[str, Any] | None]:
    """Ask the running daemon for its status over the control socket."""
    from controller.control.client import ControlClient

    fix = T("sudo systemctl start kunci-door; see `journalctl -u kunci-door -e` for why it stopped")
    try:
        status = ControlClient(socket_path, timeout=timeout).call("status")
    except DaemonUnavailable as exc:
        if "Permission denied" in exc.english():
            return warn("daemon", T("cannot connect to {path}: permission denied", path=socket_path),
                        T("run as {user} or a member of the {group} group", user=DOOR_USER, group=GROUP)), None
        return warn("daemon", T("the door daemon is not reachable: {error}", error=exc), fix), None
    except KunciError as exc:
        return warn("daemon", T("the door daemon refused the status request: {error}", error=exc), fix), None
    alarms = [a for a in status.get("alarms") or [] if not a.get("acknowledged")]
    if status.get("log_available") is False:
        return fail("daemon", T("running, but the event log is not writable (entries are refused)"),
                    T("see the disk and database findings")), status
    if alarms:
        kinds = ", ".join(sorted({str(a.get("kind")) for a in alarms}))
        return warn("daemon",
                    T("running, door {door}; {count} unacknowledged alarm(s): {kinds}", door=status.get("door"),
                      count=len(alarms), kinds=kinds),
                    T("review and acknowledge them on the admin page (Alarms)")), status
    if status.get("relay"):
        return ok("daemon", T("running, door {door}, relay on", door=status.get("door"))), status
    return ok("daemon", T("running, door {door}, relay off", door=status.get("door"))), status


SimulatorFactory = Callable[[Config, DataDir], Any]


def default_simulator(config: Config, datadir: DataDir) -> Any:
    """The pty sensor simulator the simulated daemon would use (same flash, password and address)."""
    from drivers.sim_sensor import PtySensorSimulator

    return PtySensorSimulator(flash_dir=datadir.sim_dir / "sensor", password=config.sensor.password,
                              address=config.sensor.address).start()


def probe_sensor(config: Config, datadir: DataDir, simulator: SimulatorFactory = default_simulator,
                 timeout_seconds: float = SENSOR_PROBE_TIMEOUT_SECONDS) -> Any:
    """Open the sensor with the configured password and read its parameters (``SensorInfo``).

    With ``simulated`` a simulator from ``simulator`` is started and probed instead of the port.
    Raises the adapter's errors (``SensorAuthError``, ``SensorUnavailable``, ...).
    """
    from drivers.fingerprint import PyFingerprintSensor

    sim = simulator(config, datadir) if config.simulated else None
    port = sim.port if sim is not None else config.sensor.port
    sensor = PyFingerprintSensor(port, config.sensor.baud_rate, config.sensor.address, config.sensor.password,
                                 command_timeout_seconds=timeout_seconds)
    try:
        sensor.open()
        return sensor.info()
    finally:
        sensor.close()
        if sim is not None:
            sim.stop()


def check_sensor(config: Config, datadir: DataDir, daemon_status: dict[str, Any] | None,
                 probe: Callable[[Config, DataDir], Any]) -> Finding:
    """The sensor answers with the configured password; its capacity. Asks the daemon when it runs
    (it holds the port), else probes the port (or the simulator) directly."""
    from drivers.errors import SensorAuthError, SensorError, SensorUnavailable

    if not config.sensor.enabled:
        return ok("sensor", T("fingerprint sensor disabled in the configuration (sensor.enabled = false)"))
    where = str(T("the simulated sensor")) if config.simulated else config.sensor.port
    if daemon_status is not None:
        sensor = daemon_status.get("sensor") or {}
        state = sensor.get("state")
        if state == "starting":  # the daemon connects to the sensor off its door loop, just after start-up
            return warn("sensor", T("the daemon is still connecting to the sensor"),
                        T("run kunci doctor again in a few seconds; if it stays like this, check the sensor's "
                          "wiring"))
        if state == "ok":
            return ok("sensor",
                      T("{where} answers the daemon: capacity {capacity}, {templates} templates", where=where,
                        capacity=sensor.get("capacity"), templates=sensor.get("templates")))
        return fail("sensor", T("the daemon reports the sensor {state}", state=state),
                    T("check the sensor's wiring (3.3 V, TX->RX, RX->TX, GND) and the uart/serial_console findings; "
                      "`journalctl -u kunci-door` has the error"))
    try:
        info = probe(config, datadir)
    except SensorAuthError:
        return fail("sensor",
                    T("{where} refused the configured password (sensor.password / sensor.address): a replaced "
                      "module or a wrong setting", where=where),
                    T("check the module; set sensor.password to its password"))
    except SensorUnavailable as exc:
        return fail("sensor", T("no answer from {where}: {error}", where=where, error=exc),
                    T("check power (3.3 V), TX->RX and RX->TX, the baud rate (sensor.baud_rate), the uart and "
                      "serial_console findings, and that this user is in dialout"))
    except SensorError as exc:
        return fail("sensor", f"{where}: {exc}", T("check the wiring and sensor settings"))
    return ok("sensor",
              T("{where} answers with the configured password: capacity {capacity}, {templates} templates",
                where=where, capacity=info.capacity, templates=info.template_count))


def check_config(datadir: DataDir, model: str | None) -> tuple[Finding, Config | None]:
    """Load and validate ``kunci.toml``; refuse simulated hardware on a real Raspberry Pi."""
    path = datadir.config_file
    try:
        config = load_config(path)
    except ConfigError as exc:
        return fail("config", f"{path}: {exc}",
                    T("edit the file; `kunci config check` lists every problem")), None
    if not path.exists():
        return warn("config", T("no {path}: running on the defaults", path=path),
                    T("run `kunci init` to write the commented defaults, then edit them")), config
    if config.simulated and model and "Raspberry Pi" in model:
        return warn("config", T("simulated = true on a {model}: the door hardware is not used", model=model),
                    T("set simulated = false in {path}", path=path)), config
    if config.simulated:
        return ok("config", T("{path} is valid (SIMULATED hardware)", path=path)), config
    return ok("config", T("{path} is valid (real hardware)", path=path)), config
