"""The schema revision shipped with this version, read from the migration files' source (no SQLAlchemy or
Alembic import: ``kunci doctor`` and the daemon's start compare it with the database's ``alembic_version``)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from controller.errors import StoreError
from controller.i18n import T

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


@functools.cache
def shipped_head() -> str:
    """The head revision of the migrations in this package, read from the version files' source.

    A linear chain: the revision no other file names as its ``down_revision``. Avoids importing
    Alembic; ``tests/controller/test_db.py`` checks it against Alembic's own answer.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        rev = re.search(r'^revision\s*=\s*["\']([^"\']+)["\']', source, re.MULTILINE)
        down = re.search(r'^down_revision\s*=\s*["\']([^"\']+)["\']', source, re.MULTILINE)
        if rev:
            revisions.add(rev.group(1))
        if down:
            parents.add(down.group(1))
    heads = revisions - parents
    if len(heads) != 1:
        raise StoreError(T("the shipped migrations have {count} heads; expected one", count=len(heads)))
    return heads.pop()
