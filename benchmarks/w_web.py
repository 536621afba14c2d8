"""W5: admin pages through the real Flask app (``webadmin.create_app``) with its test client.

The app is built exactly as ``kunci web`` builds it from ``DATA`` (its own engine, read-only
sessions); only the argon2 hasher is the cheap one (login is set-up, not measured). One admin logs
in once; each run then GETs the people list page and the newest entry-log page over "HTTPS"
(``base_url=https://localhost``, the session cookie is ``__Host-``). The first request of each page
(template compilation, first query plans) is reported apart as ``*_first``.
"""

from __future__ import annotations

import gc
import re
import time
from pathlib import Path
from typing import Any

from benchmarks.seed import load_info

_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
BASE = "https://localhost"
PAGES = {"people_list": "/people", "log_newest": "/log"}


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def w5_admin_pages(root: Path, runs: int, seed_value: int) -> dict[str, Any]:
    """W5: GET ``/people`` and ``/log`` as a logged-in admin, ``runs`` times each."""
    from argon2 import profiles

    from controller.store import staff
    from webadmin import create_app

    info = load_info(root)
    app = create_app(Path(root), test_config={"KUNCI_HASHER": staff.make_hasher(profiles.CHEAPEST)})
    client = app.test_client()
    page = client.get("/login", base_url=BASE)
    token = _CSRF_META.search(page.get_data(as_text=True))
    if token is None:
        raise RuntimeError("no CSRF token on the login page")
    reply = client.post("/login", base_url=BASE, data={
        "username": info["admin"]["username"], "password": info["admin"]["password"], "csrf_token": token.group(1)})
    if reply.status_code != 303:
        raise RuntimeError(f"login failed ({reply.status_code})")
    gc.collect()
    gc.freeze()  # as `kunci web` does once it serves (controller/cli/web_cmd.py)
    samples: dict[str, list[float]] = {}
    sizes: dict[str, int] = {}
    for name, path in PAGES.items():
        t0 = time.perf_counter()
        reply = client.get(path, base_url=BASE)
        samples[f"{name}_first"] = [_ms(time.perf_counter() - t0)]
        if reply.status_code != 200:
            raise RuntimeError(f"GET {path} answered {reply.status_code}")
    for _ in range(runs):
        for name, path in PAGES.items():
            t0 = time.perf_counter()
            reply = client.get(path, base_url=BASE)
            body = reply.get_data()
            samples.setdefault(name, []).append(_ms(time.perf_counter() - t0))
            sizes[name] = len(body)
            if reply.status_code != 200:
                raise RuntimeError(f"GET {path} answered {reply.status_code}")
    return {"records": [{
        "workload": "W5", "primary": "log_newest",
        "metrics": {name: {"unit": "ms", "samples": vals} for name, vals in samples.items()},
        "values": {"page_bytes": sizes},
    }]}
