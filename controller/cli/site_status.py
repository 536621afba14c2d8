"""``kunci site status``: the site link as this controller sees it, or (``--site``) every controller's state.

On a controller: the daemon's ``status`` answer has a ``site`` block while it runs (the link's own view:
state, revision, stale for, uploaded seq); without a daemon the local ``site_sync`` row is read (read-only).
At the site: each controller's last contact, its feed revisions not yet fetched, the last event seq uploaded.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from controller.config import load_config
from controller.errors import KunciError
from controller.i18n import _
from controller.paths import DataDir


def controller_status(datadir: DataDir) -> list[dict[str, Any]]:
    """One row: this controller's link (from the daemon when it answers, else the local cursors)."""
    from controller.control.client import ControlClient

    config = load_config(datadir.config_file)
    row: dict[str, Any] = {"controller": config.site_link.controller or "-", "enabled": config.site_link.enabled,
                           "host": config.site_link.host or "-"}
    try:
        live = ControlClient(datadir.socket_path, timeout=3.0).call("status").get("site")
    except (KunciError, OSError):
        live = None
    if isinstance(live, dict):
        row.update({"source": "daemon", **live})
        return [row]
    from controller.store.reader import connect

    row["source"] = "database (daemon not running)"
    with connect(datadir, config.store.url, readonly=True) as conn:
        found = conn.execute("SELECT revision, synced_at, uploaded_seq, uploaded_at FROM site_sync WHERE id = 1"
                             ).fetchone() if conn is not None else None
    revision, synced_at, uploaded_seq, uploaded_at = found or (0, None, 0, None)
    row.update({"revision": revision, "synced_at": synced_at, "uploaded_seq": uploaded_seq,
                "uploaded_at": uploaded_at})
    return [row]


def site_status(service: Any) -> list[dict[str, Any]]:
    """One row per controller of the site."""
    now = datetime.now(UTC)
    rows = []
    for c in service.controllers():
        seen = c.last_seen_at
        rows.append({"controller": c.name, "doors": ", ".join(c.doors),
                     "last_seen_at": seen.isoformat() if seen else None,
                     "seconds_since_contact": int((now - seen).total_seconds()) if seen else None,
                     "revision_seen": c.revision_seen, "revision_head": c.revision_head,
                     "revision_lag": c.revision_lag, "uploaded_seq": c.uploaded_seq, "events": c.events})
    return rows


def print_rows(rows: list[dict[str, Any]]) -> None:
    """``key: value`` lines, one block per row."""
    if not rows:
        print(_("no controllers at this site yet"))
    for i, row in enumerate(rows):
        if i:
            print()
        width = max(len(k) for k in row)
        for key, value in row.items():
            print(f"{key.ljust(width)}  {'-' if value is None else value}")
