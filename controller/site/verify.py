"""``kunci site verify``: each controller's uploaded chain checked at the site with its audit key.

The rows of ``kunci.events`` of one controller, in seq order, are walked with the controller's own chain rule
(:func:`controller.store.chain_check.walk_chain`): gap-free seqs, every MAC over the one before. A chain that
was pruned on the controller before it joined starts at its first uploaded row (trusted as the start anchor,
and said so). Reports the first break.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from controller.errors import NotFound
from controller.i18n import T
from controller.store.chain_check import walk_chain

BATCH = 5000


@dataclass(frozen=True)
class ChainReport:
    """One controller's verdict: ``ok``, rows ``checked``, ``head_seq``, first break (``bad_seq``,
    ``problem``), ``start_seq`` when the uploaded chain does not start at seq 1, ``no_key`` when the controller
    never uploaded its audit key."""

    controller: str
    ok: bool
    checked: int
    head_seq: int | None
    bad_seq: int | None = None
    problem: str | None = None
    start_seq: int | None = None
    no_key: bool = False


_ROWS = ("SELECT seq, mac, seq, time, type, reason, method, user_code, door, actor, score, detail FROM kunci.events "
         "WHERE controller_id = :c AND seq > :after ORDER BY seq")


def _batches(conn: Connection, cid: int, after: int) -> Iterator[Sequence[Sequence[Any]]]:
    result = conn.execute(text(_ROWS), {"c": cid, "after": after})
    while rows := result.fetchmany(BATCH):
        yield [(r[0], bytes(r[1]), *r[2:]) for r in rows]


def verify_controller(conn: Connection, cid: int, name: str) -> ChainReport:
    key = conn.execute(text("SELECT audit_key FROM kunci.controller_keys WHERE controller_id = :c"),
                       {"c": cid}).scalar()
    first = conn.execute(text("SELECT seq, mac FROM kunci.events WHERE controller_id = :c ORDER BY seq LIMIT 1"),
                         {"c": cid}).first()
    head = conn.execute(text("SELECT max(seq) FROM kunci.events WHERE controller_id = :c"), {"c": cid}).scalar()
    if key is None:
        return ChainReport(name, first is None, 0, head, no_key=True,
                           problem=None if first is None else "no audit key at the site: run kunci site join again")
    if first is None:
        return ChainReport(name, True, 0, None)
    start = None
    after = 0
    if int(first[0]) > 1:
        start, after = (int(first[0]), bytes(first[1]).hex()), int(first[0])
    bad, problem, checked = walk_chain(bytes(key), _batches(conn, cid, after), start=start)
    return ChainReport(name, bad is None, checked + (1 if start else 0), head, bad, problem,
                       start_seq=int(first[0]) if start else None)


def verify_site(conn: Connection, controller: str | None = None) -> list[ChainReport]:
    """A report per controller (or the one named)."""
    rows = conn.execute(text("SELECT id, name FROM kunci.controllers "
                             "WHERE (CAST(:n AS text) IS NULL OR name = :n) ORDER BY name"), {"n": controller}).all()
    if controller is not None and not rows:
        raise NotFound(T("no controller {name} at this site", name=controller))
    return [verify_controller(conn, int(cid), name) for cid, name in rows]
