"""Fixtures of the site page tests: a migrated site database on the real PostgreSQL server (tests/pg_server.py),
seeded with two rooms on two controllers, and the site page's Flask app on it.

The site (:func:`seeded`):

- controller ``c1`` drives door ``main`` in room ``records``; controller ``c2`` drives ``vault`` in room ``vault``;
- groups ``clerks`` (door main), ``vaulters`` (door vault), ``both`` (both doors);
- staff ``boss`` (admin, every room), ``ra`` (admin, room records only), ``aud`` (auditor, every room) and
  ``aud_r`` (auditor, room records only), all with :data:`PASSWORD`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, profiles

from controller.site.service import SiteService
from tests.site.conftest import SiteDb, site_db  # noqa: F401  (the fixture, shared)

PASSWORD = "correct horse battery staple 42"
HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)
STAFF = {"boss": ("admin", None), "ra": ("admin", ["records"]), "aud": ("auditor", None),
         "aud_r": ("auditor", ["records"])}
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@pytest.fixture(autouse=True)
def english_messages() -> Iterator[None]:
    """Each test starts with English messages: a page request in Indonesian leaves that language current in the
    thread (the page sets it per request), and errors raised outside a request are read in it."""
    from controller.i18n import set_language

    set_language("en")
    yield
    set_language("en")


@dataclass
class Seeded:
    """The seeded site: its database, the service the page uses, and the door ids by name."""

    db: SiteDb
    service: SiteService
    doors: dict[str, int]


def seed(service: SiteService) -> dict[str, int]:
    """Two controllers, three groups, four staff logins (see the module docstring); door ids by name."""
    service.add_controller("c1", [("main", "records")], actor="test")
    service.add_controller("c2", [("vault", "vault")], actor="test")
    doors = {d.name: d.id for d in service.list_doors()}
    service.add_group("clerks", [doors["main"]], actor="test")
    service.add_group("vaulters", [doors["vault"]], actor="test")
    service.add_group("both", [doors["main"], doors["vault"]], actor="test")
    for username, (role, rooms) in STAFF.items():
        service.add_staff(username, PASSWORD, role, rooms)
    return doors


@pytest.fixture
def seeded(site_db: SiteDb) -> Seeded:  # noqa: F811
    service = SiteService(site_db.engine.begin, secrets.token_bytes(32), hasher=HASHER)
    return Seeded(site_db, service, seed(service))


@pytest.fixture
def app(seeded: Seeded, tmp_path: Path) -> Any:
    from webadmin.site import create_site_app

    return create_site_app(tmp_path, test_config={"KUNCI_SITE_SERVICE": seeded.service, "TESTING": True})


class SiteClient:
    """A Flask test client speaking HTTPS-style requests with the page's CSRF token."""

    def __init__(self, app: Any) -> None:
        self.client = app.test_client()

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, base_url="https://localhost", **kw)

    def token(self, path: str = "/login") -> str:
        found = _CSRF_META.search(self.get(path).get_data(as_text=True))
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def post(self, path: str, data: dict[str, Any] | None = None, *, token_from: str = "/login", **kw: Any) -> Any:
        form = dict(data or {})
        form.setdefault("csrf_token", self.token(token_from))
        return self.client.post(path, data=form, base_url="https://localhost", **kw)

    def login(self, username: str, password: str = PASSWORD) -> Any:
        return self.post("/login", {"username": username, "password": password})


@pytest.fixture
def client(app: Any) -> SiteClient:
    return SiteClient(app)


@pytest.fixture
def login_as(app: Any) -> Any:
    """``login_as(username)``: a new client logged in as that staff login."""

    def make(username: str) -> SiteClient:
        c = SiteClient(app)
        response = c.login(username)
        assert response.status_code == 303, response.get_data(as_text=True)
        return c

    return make
