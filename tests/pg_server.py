"""A real PostgreSQL server for tests: a fresh cluster in a temporary directory on a free loopback port.

:class:`PgServer` runs ``initdb`` into a new temporary directory (as an unprivileged account when the tests run
as root: PostgreSQL refuses to run as root), writes a test CA and a server certificate for ``127.0.0.1`` /
``localhost`` (``tests/alerts/certs.py``), turns TLS on, and allows TCP logins on 127.0.0.1 only, by password
(``scram-sha-256``; with or without TLS, so a test can also try ``sslmode=disable``). The superuser
``postgres`` logs in with :attr:`superuser_password`.

- :meth:`dsn` builds a libpq connection string for a role (TLS ``verify-full`` against :attr:`ca_file` by default);
- :meth:`connect` opens a superuser connection (autocommit) to a database;
- :meth:`stop` / :meth:`start` stop the server and start it again on the same port with the same data (outage
  tests); :meth:`running` says which;
- :meth:`reset` drops every database and role the tests created (roles are cluster-wide: the fixture calls it
  before each test that asks for a clean server);
- :meth:`create_site_database` makes a login role with CREATEROLE that owns a new database: what a DBA gives
  ``kunci site init`` (docs/site.md "Setting up the database");
- :meth:`destroy` stops the server and deletes the directory.

:func:`postgres_bin_dir` finds the binaries on PATH or in Debian's ``/usr/lib/postgresql/<version>/bin``.
The pytest fixtures are in ``tests/pg_fixture.py``.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

from tests.alerts.certs import CertAuthority
from tests.polling import wait_for

#: Generous deadline for the server to start, stop or accept a connection, in seconds.
DEADLINE_SECONDS = 60.0
SUPERUSER = "postgres"
#: Account the server runs as when the tests run as root (``initdb`` refuses root).
UNPRIVILEGED_USERS = ("kunci-test", "nobody")
#: Databases a cluster starts with (never dropped by :meth:`PgServer.reset`).
SYSTEM_DATABASES = ("postgres", "template0", "template1")


def postgres_bin_dir() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``, or None when PostgreSQL is not installed.

    PATH first (a symlinked or source install), then Debian's ``/usr/lib/postgresql/<version>/bin``, newest
    version first (``apt-get install postgresql`` does not put them on PATH).
    """
    found = shutil.which("initdb")
    if found:
        directory = Path(os.path.realpath(found)).parent
        if (directory / "pg_ctl").exists() and (directory / "postgres").exists():
            return directory
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    for directory in candidates:
        if all(os.access(directory / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
            return directory
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_account() -> pwd.struct_passwd | None:
    """The account to run the server as: None (ourselves) unless we are root."""
    if os.getuid() != 0:
        return None
    for name in UNPRIVILEGED_USERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and no unprivileged account (kunci-test, nobody) to run PostgreSQL as")


def _chown_tree(path: Path, account: pwd.struct_passwd | None) -> None:
    if account is None:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, account.pw_uid, account.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), account.pw_uid, account.pw_gid)


class PgServer:
    """One PostgreSQL cluster in its own temporary directory, listening on ``127.0.0.1:<port>`` with TLS.

    ``bin_dir`` holds ``initdb``/``pg_ctl``/``postgres`` (:func:`postgres_bin_dir`). Nothing runs until
    :meth:`start`. The directory is made with :func:`tempfile.mkdtemp` (not under pytest's root-only
    ``tmp_path`` when the server runs as another account) and removed by :meth:`destroy`.
    """

    host = "127.0.0.1"
    superuser = SUPERUSER

    def __init__(self, bin_dir: Path, *, max_connections: int = 300) -> None:
        self.bin_dir = bin_dir
        self.account = _server_account()
        self.directory = Path(tempfile.mkdtemp(prefix="kunci-pg-"))
        os.chmod(self.directory, 0o755)
        self.data_dir = self.directory / "data"
        self.socket_dir = self.directory / "sock"
        self.log_file = self.directory / "server.log"
        self.port = free_port()
        self.superuser_password = secrets.token_urlsafe(18)
        ca = CertAuthority.create(self.directory / "ca", name="Kunci test PostgreSQL CA")
        self.ca_file = ca.ca_file
        self.ca_pem = ca.ca_file.read_text()
        server = ca.issue_server(self.directory / "tls")
        self.socket_dir.mkdir()
        pwfile = self.directory / "pwfile"
        pwfile.write_text(self.superuser_password + "\n")
        _chown_tree(self.directory, self.account)
        self._run([str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER, "--pwfile", str(pwfile),
                   "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale",
                   "--no-sync"])
        pwfile.unlink()
        (self.data_dir / "pg_hba.conf").write_text("\n".join([
            "# written by tests/pg_server.py: password logins over TCP on loopback only",
            "local   all  all                 scram-sha-256",
            "hostssl all  all  127.0.0.1/32   scram-sha-256",
            "hostnossl all all 127.0.0.1/32   scram-sha-256",
            "",
        ]))
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n".join([
                "",
                "# tests/pg_server.py",
                "listen_addresses = '127.0.0.1'",
                f"port = {self.port}",
                f"unix_socket_directories = '{self.socket_dir}'",
                f"max_connections = {max_connections}",
                "shared_buffers = 32MB",
                "ssl = on",
                f"ssl_cert_file = '{server.cert_file}'",
                f"ssl_key_file = '{server.key_file}'",
                # A test cluster: speed over durability (never for a real site).
                "fsync = off",
                "synchronous_commit = off",
                "full_page_writes = off",
                "log_min_messages = warning",
                "",
            ]))
        _chown_tree(self.directory, self.account)
        self._running = False

    # -- process control -------------------------------------------------------------------------------------

    def _run(self, argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self.account is not None:
            kwargs = {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": str(self.directory)}
        result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=self.directory,
                                timeout=DEADLINE_SECONDS, **kwargs)  # type: ignore[arg-type]
        if check and result.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} failed ({result.returncode}): {result.stderr.strip()}"
                               f"{self.log()}")
        return result

    def start(self) -> None:
        """Start the server (same port, same data) and return once a superuser login works."""
        if self._running:
            return
        self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file), "-w",
                   "-t", str(int(DEADLINE_SECONDS)), "start"])
        self._running = True
        wait_for(self._accepts, DEADLINE_SECONDS, "PostgreSQL to accept a login")

    def _accepts(self) -> bool:
        try:
            with self.connect():
                return True
        except psycopg.OperationalError:
            return False

    def stop(self) -> None:
        """Stop the server (fast shutdown: open connections are closed) and wait until it is down."""
        if not self._running:
            return
        self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w",
                   "-t", str(int(DEADLINE_SECONDS)), "stop"], check=False)
        self._running = False

    @property
    def running(self) -> bool:
        return self._running

    def destroy(self) -> None:
        """Stop the server and delete its directory."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def log(self) -> str:
        """The end of the server's log (for assertion messages)."""
        if not self.log_file.exists():
            return ""
        return "\n" + self.log_file.read_text(errors="replace")[-3000:]

    # -- connections -----------------------------------------------------------------------------------------

    def dsn(self, role: str, password: str, dbname: str = "postgres", *, sslmode: str = "verify-full") -> str:
        """A libpq connection string for ``role`` on this server (TLS checked against :attr:`ca_file`)."""
        params = {"host": self.host, "port": str(self.port), "dbname": dbname, "user": role, "password": password,
                  "sslmode": sslmode, "connect_timeout": "10"}
        if sslmode in ("verify-full", "verify-ca"):
            params["sslrootcert"] = str(self.ca_file)
        return psycopg.conninfo.make_conninfo(**params)

    def superuser_dsn(self, dbname: str = "postgres") -> str:
        return self.dsn(SUPERUSER, self.superuser_password, dbname)

    def connect(self, dbname: str = "postgres") -> psycopg.Connection:
        """A superuser connection (autocommit) to ``dbname``; close it (``with``) when done."""
        return psycopg.connect(self.superuser_dsn(dbname), autocommit=True)

    # -- test isolation --------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Start the server if a test left it stopped; drop every database and role the tests made."""
        self.start()
        with self.connect() as conn:
            databases = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE NOT datname = ANY(%s)",
                                                    (list(SYSTEM_DATABASES),))]
            for name in databases:
                conn.execute(psycopg.sql.SQL("DROP DATABASE {} WITH (FORCE)").format(psycopg.sql.Identifier(name)))
            roles = [r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname <> %s "
                                                "AND rolname NOT LIKE 'pg\\_%%'", (SUPERUSER,))]
            for name in roles:
                ident = psycopg.sql.Identifier(name)
                conn.execute(psycopg.sql.SQL("DROP OWNED BY {} CASCADE").format(ident))
                conn.execute(psycopg.sql.SQL("DROP ROLE {}").format(ident))

    def create_site_database(self, dbname: str = "kunci", owner: str = "kunci_admin",
                             password: str | None = None) -> tuple[str, str]:
        """What a DBA does for a site: a LOGIN role with CREATEROLE owning a new database.

        Returns ``(owner, password)``; ``password`` defaults to a random one.
        """
        password = password or secrets.token_urlsafe(18)
        sql = psycopg.sql
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(
                sql.Identifier(owner), sql.Literal(password)))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(dbname), sql.Identifier(owner)))
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(dbname)))
        return owner, password
