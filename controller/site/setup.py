"""``kunci site init``: make (or bring up to date) a SITE DIR and the site schema in its database.

Idempotent: the pepper is made once and never replaced (every PIN digest at the site depends on it); site.toml
and the password file are rewritten with what was given; the migrations run to the newest revision. The
database is reached and migrated *before* any file is written, so a wrong password or host changes nothing.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from controller.errors import InvalidInput
from controller.fileio import atomic_write
from controller.i18n import T
from controller.site.migrate import short_reason, upgrade_site
from controller.site.siteconf import (
    PASSWORD_FILE,
    PEPPER_FILE,
    PEPPER_LENGTH,
    SECRETS,
    SITE_FILE,
    DatabaseSettings,
    make_engine,
    render_site_toml,
)


@dataclass(frozen=True)
class InitResult:
    directory: Path
    before: str | None
    after: str | None
    pepper_created: bool


def init_site(directory: Path, settings: DatabaseSettings, password: str) -> InitResult:
    """Migrate the database ``settings`` names (logging in with ``password``), then write SITE DIR."""
    from sqlalchemy.exc import SQLAlchemyError

    problems = settings.problems()
    if problems:
        raise InvalidInput(problems[0])
    if not password:
        raise InvalidInput(T("the database password is empty"))
    directory = directory.resolve()
    if settings.ca_file is not None and not settings.ca_file.is_file():
        raise InvalidInput(T("CA file {path} not found", path=settings.ca_file))
    engine = make_engine(settings, password, pool_size=1)
    try:
        try:
            with engine.connect():
                pass
        except SQLAlchemyError as exc:
            raise InvalidInput(T("cannot reach the site database: {reason} (nothing was changed)",
                                 reason=short_reason(exc))) from exc
        before, after = upgrade_site(engine)
    finally:
        engine.dispose()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    (directory / SECRETS).mkdir(mode=0o700, exist_ok=True)
    os.chmod(directory / SECRETS, 0o700)
    pepper = directory / PEPPER_FILE
    created = not pepper.exists()
    if created:
        atomic_write(pepper, secrets.token_bytes(PEPPER_LENGTH), mode=0o600, replace=False)
    stored = DatabaseSettings(host=settings.host, port=settings.port, dbname=settings.dbname, user=settings.user,
                              password_file=directory / PASSWORD_FILE, sslmode=settings.sslmode,
                              ca_file=settings.ca_file.resolve() if settings.ca_file else None)
    atomic_write(directory / PASSWORD_FILE, password + "\n", mode=0o600)
    atomic_write(directory / SITE_FILE, render_site_toml(stored, directory), mode=0o644)
    return InitResult(directory, before, after, created)
