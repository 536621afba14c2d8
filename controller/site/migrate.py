"""Running the site migrations (``controller/site/migrations``, revisions ``s0001``...; docs/site.md).

:func:`upgrade_site` brings the site database to the newest shipped revision in one transaction (roles, schema,
tables, policies); it is idempotent. :func:`site_revision` reads where a database stands.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from controller.errors import StoreError
from controller.i18n import T

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def shipped_head() -> str | None:
    """The newest site revision shipped with this version of Kunci."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def site_revision(engine: Engine) -> str | None:
    """The revision the site database is at, or None when it was never migrated."""
    with engine.connect() as conn:
        if conn.execute(text("SELECT to_regclass('kunci.alembic_version')")).scalar() is None:
            return None
        return conn.execute(text("SELECT version_num FROM kunci.alembic_version")).scalar()


def upgrade_site(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate the site database to ``revision``; ``(before, after)``. StoreError when it fails (rolled back)."""
    from alembic import command

    try:
        before = site_revision(engine)
        cfg = _alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
        after = site_revision(engine)
    except SQLAlchemyError as exc:
        raise StoreError(T("site database migration failed: {reason}", reason=short_reason(exc))) from exc
    if before != after:
        logger.info("site database upgraded from %s to %s", before, after)
    return before, after


def short_reason(exc: BaseException) -> str:
    """The first line of a database error, without SQLAlchemy's background links."""
    original = getattr(exc, "orig", None) or exc
    return (str(original).strip().splitlines() or [type(original).__name__])[0]
