"""SITE DIR: where the site's settings and secrets live on the machine that runs ``kunci site`` and the site web.

::

    SITE/site.toml            [database] host, port, dbname, user, password_file, sslmode, ca_file
    SITE/secrets/             0700
    SITE/secrets/pepper       32 random bytes, 0600: the site's PIN pepper (HMAC-SHA256(pepper, pin))
    SITE/secrets/db-password  the database password of ``user``, 0600

:func:`load_site` reads and checks it (every problem at once, :class:`ConfigError`); :func:`make_engine` opens
the database with TLS as configured. The password and pepper files are refused unless 0600/0400.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from controller.errors import ConfigError, DataDirError, SecretsError
from controller.i18n import T, Text

SITE_FILE = "site.toml"
SECRETS = "secrets"
PEPPER_FILE = "secrets/pepper"
PASSWORD_FILE = "secrets/db-password"
#: TLS modes accepted for the site database; ``disable`` only towards a loopback host (docs/site.md "TLS").
SSLMODES = ("verify-full", "verify-ca", "require", "disable")
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
#: Length of the site pepper, in bytes.
PEPPER_LENGTH = 32
#: Longest password file read, in bytes.
MAX_SECRET_BYTES = 4096
#: Seconds to wait for the database server to answer a connection attempt.
CONNECT_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class DatabaseSettings:
    """How to reach the site database: host, port, dbname, user, the password file, TLS mode and CA file."""

    host: str
    port: int = 5432
    dbname: str = "kunci"
    user: str = ""
    password_file: Path = Path(PASSWORD_FILE)
    sslmode: str = "verify-full"
    ca_file: Path | None = None

    def problems(self) -> list[Text]:
        """Every problem of these settings, as texts (empty when fine)."""
        found: list[Text] = []
        if not self.host:
            found.append(T("site database: host is empty"))
        if not 1 <= self.port <= 65535:
            found.append(T("site database: port {port} is not 1..65535", port=self.port))
        if not self.dbname or not self.user:
            found.append(T("site database: dbname and user must not be empty"))
        if self.sslmode not in SSLMODES:
            found.append(T("site database: sslmode {mode} is not one of {allowed}", mode=self.sslmode,
                           allowed=", ".join(SSLMODES)))
        elif self.sslmode == "disable" and self.host not in LOOPBACK_HOSTS:
            found.append(T("site database: sslmode disable is allowed only towards 127.0.0.1, ::1 or localhost"))
        return found

    def connect_args(self, password: str) -> dict[str, Any]:
        """Keyword arguments for ``psycopg.connect`` (TLS root certificate when ``ca_file`` is set)."""
        args: dict[str, Any] = {"host": self.host, "port": self.port, "dbname": self.dbname, "user": self.user,
                                "password": password, "sslmode": self.sslmode,
                                "connect_timeout": CONNECT_TIMEOUT_SECONDS, "application_name": "kunci-site"}
        if self.ca_file is not None:
            args["sslrootcert"] = str(self.ca_file)
        return args


@dataclass(frozen=True)
class Site:
    """A loaded SITE DIR: its directory and database settings (paths made absolute)."""

    directory: Path
    database: DatabaseSettings

    @property
    def pepper_file(self) -> Path:
        return self.directory / PEPPER_FILE

    def pepper(self) -> bytes:
        """The site's PIN pepper (refused unless the file is 0600/0400 and 32 bytes)."""
        data = read_private(self.pepper_file, PEPPER_LENGTH + 1)
        if len(data) != PEPPER_LENGTH:
            raise DataDirError(T("the site pepper {path} is not {n} bytes: restore it from the backup",
                                 path=self.pepper_file, n=PEPPER_LENGTH))
        return data

    def password(self) -> str:
        """The database password (first line of the 0600 password file)."""
        text = read_private(self.database.password_file, MAX_SECRET_BYTES).decode("utf-8", "replace")
        return (text.splitlines() or [""])[0].strip()

    def engine(self) -> Engine:
        """A SQLAlchemy engine on the site database (psycopg 3, TLS as configured)."""
        return make_engine(self.database, self.password())


def read_private(path: Path, limit: int) -> bytes:
    """Up to ``limit`` bytes of ``path``: a regular file (no symlink followed) with mode 0600 or 0400.

    The site's own check, as the door's pepper check (``controller.store.keys``, which the site web may not
    import): SecretsError naming the path and the fix otherwise.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise SecretsError(T("secret file {path} is missing", path=path)) from None
    except OSError as exc:
        raise SecretsError(T("cannot open secret file {path}: {reason}", path=path, reason=exc.strerror)) from exc
    try:
        st = os.fstat(fd)
        mode = stat.S_IMODE(st.st_mode)
        if not stat.S_ISREG(st.st_mode) or mode not in (0o600, 0o400):
            raise SecretsError(T("secret file {path} must be a regular file with mode 0600 or 0400 (it is {mode}): "
                                 "chmod 600 {path}", path=path, mode=format(mode, "04o")))
        return os.read(fd, limit)
    finally:
        os.close(fd)


def make_engine(settings: DatabaseSettings, password: str, *, pool_size: int = 2) -> Engine:
    """An engine on the database ``settings`` name, logging in with ``password``."""
    return create_engine("postgresql+psycopg://", connect_args=settings.connect_args(password),
                         pool_size=pool_size, max_overflow=2, pool_pre_ping=True)


def parse_database(table: Any, base: Path) -> DatabaseSettings:
    """``[database]`` of site.toml as settings (paths relative to ``base``); ConfigError with every problem."""
    if not isinstance(table, dict):
        raise ConfigError([T("site.toml has no [database] table")])
    known = {"host", "port", "dbname", "user", "password_file", "sslmode", "ca_file"}
    problems: list[Text | str] = [T("site.toml: unknown key database.{key}", key=k) for k in sorted(set(table) - known)]
    try:
        port = int(table.get("port", 5432))
    except (TypeError, ValueError):
        problems.append(T("site database: port must be a number"))
        port = 5432
    ca = table.get("ca_file") or None
    settings = DatabaseSettings(host=str(table.get("host", "")), port=port, dbname=str(table.get("dbname", "kunci")),
                                user=str(table.get("user", "")),
                                password_file=base / str(table.get("password_file", PASSWORD_FILE)),
                                sslmode=str(table.get("sslmode", "verify-full")),
                                ca_file=(base / str(ca)) if ca else None)
    problems.extend(settings.problems())
    if problems:
        raise ConfigError(problems)
    return settings


def load_site(directory: Path) -> Site:
    """Read ``directory/site.toml``; DataDirError when it is not a site directory, ConfigError when invalid."""
    directory = directory.resolve()
    path = directory / SITE_FILE
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise DataDirError(T("{path} not found: is {site} a site directory (kunci site init)?", path=path,
                             site=directory)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([T("site.toml is not valid TOML: {reason}", reason=str(exc))]) from exc
    return Site(directory, parse_database(data.get("database"), directory))


def render_site_toml(settings: DatabaseSettings, directory: Path) -> str:
    """site.toml for ``settings`` (paths inside ``directory`` written relative to it)."""
    def rel(p: Path) -> str:
        try:
            return str(p.relative_to(directory))
        except ValueError:
            return str(p)

    lines = ["# Kunci site settings (kunci site init). docs/site.md explains each key.", "[database]",
             f"host = {_toml_str(settings.host)}", f"port = {settings.port}", f"dbname = {_toml_str(settings.dbname)}",
             f"user = {_toml_str(settings.user)}", f"password_file = {_toml_str(rel(settings.password_file))}",
             f"sslmode = {_toml_str(settings.sslmode)}"]
    if settings.ca_file is not None:
        lines.append(f"ca_file = {_toml_str(rel(settings.ca_file))}")
    return "\n".join(lines) + "\n"


def _toml_str(value: str) -> str:
    import json

    return json.dumps(value)
