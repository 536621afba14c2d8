"""``kunci status`` says how the site link is: a line only when the link is configured, naming what needs an
operator (offline and why, stale, stopped uploads, site people left alone here)."""

from __future__ import annotations

from controller.cli.status_cmd import format_status, site_line


def test_no_line_without_a_site_link() -> None:
    assert "site:" not in format_status({"site": {"state": "disabled"}})


def test_a_connected_link_says_where_it_is() -> None:
    line = site_line({"state": "connected", "revision": 42, "uploaded_seq": 310, "stale_seconds": 0.2,
                      "last_error": None, "stale": False, "conflicts": [], "upload_error": None})
    assert line.split() == ["site:", "connected,", "revision", "42,", "uploaded", "up", "to", "seq", "310"]
    assert "site:" in format_status({"site": {"state": "connected", "revision": 42, "uploaded_seq": 310}})


def test_what_needs_an_operator_is_named() -> None:
    line = site_line({"state": "offline", "revision": 42, "uploaded_seq": 310, "stale_seconds": 90061.5,
                      "last_error": "connection refused", "stale": True, "conflicts": ["U0001"],
                      "upload_error": "the site holds another event under seq 7"})
    for needle in ("OFFLINE, revision 42", "last error: connection refused", "STALE for 90061 s",
                   "UPLOADS STOPPED: the site holds another event under seq 7", "U0001"):
        assert needle in line, line
