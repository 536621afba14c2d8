"""End to end (issue 16, "done when"): a person added **on the site page** opens the right doors and only those,
and a revocation made on the page is refused at the door.

The site and its controllers are the site e2e's (``tests/e2e/test_site_e2e.py``: a real PostgreSQL server, ``kunci
site init``, controller alpha with doors main and vault, controller beta with door main, each joined and running
as its own ``kunci run`` on simulated hardware). The page is :func:`webadmin.site.create_site_app` on that SITE
directory, exactly as ``kunci site web`` builds it (its own service from site.toml), driven with Flask's client.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.product import wait_until
from tests.e2e.test_site_e2e import decisions, head_seq, last_id, press, site, site_status, sync_rows  # noqa: F401
from tests.site_web.conftest import HASHER, PASSWORD, SiteClient

# ruff: noqa: F811 (the site fixture imported above is the test's parameter)
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_person_added_on_the_site_page_opens_only_the_doors_of_their_group(site: Any) -> None:
    from controller.site.service import SiteService
    from webadmin.site import create_site_app

    alpha, beta = site.alpha, site.beta
    staff = SiteService.for_site(site.dir, hasher=HASHER)
    staff.add_staff("boss", PASSWORD, "admin", None)
    for ctl in (alpha, beta):
        wait_until(lambda ctl=ctl: site_status(ctl.data)["state"] == "connected", what=f"{ctl.name} connected")
    page = SiteClient(create_site_app(site.dir, test_config={"TESTING": True}))
    assert page.login("boss").status_code == 303

    vault = next(d.id for d in site.service.list_doors() if d.controller == "alpha" and d.name == "vault")
    assert page.post("/groups/new", {"name": "vault-staff", "door": [str(vault)]},
                     token_from="/groups/").status_code == 303
    mark = last_id(alpha.data)
    added = page.post("/people/new", {"name": "Vera Vault", "group": "vault-staff"}, token_from="/people/new")
    shown = page.get(added.location).get_data(as_text=True)
    code = re.search(r"New person (U\d{4,})", shown).group(1)
    pin = re.search(r'<p class="pin" id="pin"[^>]*>(\d+)</p>', shown).group(1)
    wait_until(lambda: sync_rows(alpha.data, mark), what="the person copied to alpha")

    seq, beta_seq = head_seq(alpha.data), head_seq(beta.data)
    for data, door in ((alpha.data, "vault"), (alpha.data, "main"), (beta.data, "main")):
        press(data, door, pin + "#")
    wait_until(lambda: decisions(alpha.data, "vault", seq) and decisions(alpha.data, "main", seq)
               and decisions(beta.data, "main", beta_seq), what="a decision at each door")
    got = {(e["door"], e["type"], e["reason"], e["user"]) for e in decisions(alpha.data, "vault", seq)
           + decisions(alpha.data, "main", seq)}
    assert got == {("vault", "access.granted", None, code), ("main", "access.denied", "door_not_allowed", code)}
    [at_beta] = decisions(beta.data, "main", beta_seq)
    assert (at_beta["type"], at_beta["reason"]) == ("access.denied", "unknown_credential")

    mark = last_id(alpha.data)
    assert page.post(f"/people/{code}/revoke", {"confirm": "yes"}, token_from="/people/").status_code == 303
    wait_until(lambda: sync_rows(alpha.data, mark), what="the revocation on alpha")
    seq = head_seq(alpha.data)
    press(alpha.data, "vault", pin + "#")
    wait_until(lambda: decisions(alpha.data, "vault", seq), what="the revoked PIN decided")
    assert [e["type"] for e in decisions(alpha.data, "vault", seq)] == ["access.denied"]

    # the site page's events list shows what the doors decided, once alpha has uploaded them
    wait_until(lambda: f"Vera Vault ({code}) opened vault" in page.get("/events/").get_data(as_text=True),
               what="alpha's events at the site")
