"""Audit chain status (admins and auditors), computed without the audit key.

The web process cannot read ``DATA/secrets/audit.key``, so it cannot recompute the
MACs. It shows what it can check on its own: the chain head ``(seq, mac)`` to copy
off the device, whether the sealed sequence numbers run 1..N without a gap, and how
many events wait to be sealed by the daemon. The page says so, and points to
``kunci audit verify`` for the full check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, render_template
from sqlalchemy import func, select

from controller.store import audit
from controller.store.models import Event
from webadmin.security import STAFF, allow
from webadmin.state import read_db

logger = logging.getLogger(__name__)

bp = Blueprint("audit", __name__, url_prefix="/audit")


@dataclass(frozen=True)
class ChainStatus:
    """What the web can tell about the chain without the key."""

    head_seq: int | None
    head_mac: str | None
    sealed: int
    lowest_seq: int | None
    pending: int
    gap_free: bool


def chain_status(db: Any) -> ChainStatus:
    """Head, sealed count and sequence range (one aggregate over the ``seq`` index), pending count."""
    count, low, high = db.execute(select(func.count(Event.seq), func.min(Event.seq), func.max(Event.seq))).one()
    head = audit.head(db)
    sealed = int(count or 0)
    gap_free = sealed == 0 or (low == 1 and high == sealed)
    return ChainStatus(
        head_seq=head[0] if head else None,
        head_mac=head[1] if head else None,
        sealed=sealed,
        lowest_seq=low,
        pending=audit.pending_count(db),
        gap_free=gap_free,
    )


@bp.route("")
@allow(STAFF)
def index() -> Any:
    """The audit page."""
    return render_template("audit.html", chain=chain_status(read_db()))
