"""People's display names for the pages that put them next to codes: for admins only.

Auditors see codes only (docs/security.md): every view asks here with
``with_names=g.account.is_admin``, and without it gets no names at all, so no page can
leak one by forgetting a check in its template.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.store.models import User

logger = logging.getLogger(__name__)

#: Most codes looked up at once (a page of the log shows 50 rows).
MAX_CODES = 500


def names_for(session: Session, codes: Iterable[str | None], *, with_names: bool) -> dict[str, str]:
    """``{code: display name}`` for the people among ``codes`` who have a name; ``{}`` unless ``with_names``.

    :param codes: person codes (``None`` entries and repeats are ignored); at most :data:`MAX_CODES` distinct.
    :param with_names: ``True`` only for an admin's page.
    """
    if not with_names:
        return {}
    wanted = sorted({c for c in codes if c})[:MAX_CODES]
    if not wanted:
        return {}
    rows = session.execute(select(User.code, User.display_name).where(User.code.in_(wanted)))
    return {code: name for code, name in rows if name}
