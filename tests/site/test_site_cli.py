"""``kunci site init|add-controller|join|status|verify|admin add`` end to end on a real PostgreSQL server and a
real initialised DATA directory, with the refusals a person meets (wrong password, unknown door, bad bundle)."""

from __future__ import annotations

import hmac
import io
import json
import stat
import tomllib
from pathlib import Path

import psycopg
import pytest

from controller.cli import main
from controller.store.chain_check import GENESIS_MAC, canonical_fields
from tests.pg_server import PgServer


def kunci(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


class Site:
    """A site made with kunci site init on the test server, and a controller's DATA made with kunci init."""

    def __init__(self, server: PgServer, tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.server, self.capsys = server, capsys
        self.owner, password = server.create_site_database("kunci")
        self.password_file = tmp / "pw"
        self.password_file.write_text(password + "\n")
        self.dir = tmp / "site"
        self.data = tmp / "data"
        self.tmp = tmp

    def init_args(self, password_file: Path | None = None) -> list[str]:
        return ["site", "init", "--site", str(self.dir), "--host", self.server.host, "--port", str(self.server.port),
                "--dbname", "kunci", "--user", self.owner, "--password-file", str(password_file or self.password_file),
                "--ca-file", str(self.server.ca_file)]

    def run(self, *argv: str) -> tuple[int, str, str]:
        return kunci(self.capsys, *argv)


@pytest.fixture
def site(pg_clean: PgServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Site:
    s = Site(pg_clean, tmp_path, capsys)
    assert s.run(*s.init_args())[0] == 0
    assert s.run("init", "--data", str(s.data))[0] == 0
    return s


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_is_idempotent_and_keeps_its_secrets_private(site: Site) -> None:
    pepper = (site.dir / "secrets" / "pepper").read_bytes()
    code, out, _ = site.run(*site.init_args())
    assert code == 0 and "already at revision s0001" in out
    assert (site.dir / "secrets" / "pepper").read_bytes() == pepper and len(pepper) == 32
    assert mode(site.dir / "secrets" / "pepper") == 0o600 and mode(site.dir / "secrets" / "db-password") == 0o600
    assert tomllib.loads((site.dir / "site.toml").read_text())["database"]["sslmode"] == "verify-full"


def test_init_with_a_wrong_password_changes_nothing(pg_clean: PgServer, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    s = Site(pg_clean, tmp_path, capsys)
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    code, _, err = s.run(*s.init_args(wrong))
    assert code == 2 and "password authentication failed" in err and "nothing was changed" in err
    assert not s.dir.exists()


def join_site(site: Site, name: str = "ctl1", doors: tuple[str, ...] = ("main@records",)) -> Path:
    bundle = site.tmp / f"{name}.bundle"
    args = ["site", "add-controller", name, "--site", str(site.dir), "--out", str(bundle)]
    for door in doors:
        args += ["--door", door]
    code, out, err = site.run(*args)
    assert code == 0, err
    assert mode(bundle) == 0o600
    return bundle


def test_add_controller_then_join_a_real_data_directory(site: Site) -> None:
    bundle = join_site(site)
    code, out, err = site.run("site", "join", str(bundle), "--data", str(site.data))
    assert code == 0, err
    assert "joined the site as controller ctl1" in out and "audit key uploaded" in out
    link = tomllib.loads((site.data / "kunci.toml").read_text())["site_link"]
    assert link["enabled"] is True and link["controller"] == "ctl1" and link["user"] == "kunci_ctl_ctl1"
    assert link["password_file"] == "secrets/site-password" and link["sslmode"] == "verify-full"
    assert mode(site.data / "secrets" / "site-password") == 0o600
    assert Path(link["ca_file"]).read_text() == site.server.ca_file.read_text()
    assert (site.data / "secrets" / "pepper").read_bytes() == (site.dir / "secrets" / "pepper").read_bytes()
    with site.server.connect("kunci") as conn:
        key = conn.execute("SELECT audit_key FROM kunci.controller_keys").fetchone()[0]
    assert bytes(key) == (site.data / "secrets" / "audit.key").read_bytes()
    # the controller's own status (no daemon) and the site's view
    code, out, _ = site.run("site", "status", "--data", str(site.data), "--json")
    assert code == 0 and json.loads(out)[0]["controller"] == "ctl1" and json.loads(out)[0]["revision"] == 0
    code, out, _ = site.run("site", "status", "--site", str(site.dir), "--json")
    rows = json.loads(out)
    assert code == 0 and [r["controller"] for r in rows] == ["ctl1"] and rows[0]["last_seen_at"] is not None


def test_join_refusals_change_nothing(site: Site) -> None:
    before = (site.data / "kunci.toml").read_text()
    pepper = (site.data / "secrets" / "pepper").read_bytes()
    bundle = join_site(site, "ctl1", ("vault@records",))
    code, _, err = site.run("site", "join", str(bundle), "--data", str(site.data))
    assert code == 2 and "does not drive: vault" in err
    bundle = join_site(site, "ctl2")
    data = json.loads(bundle.read_text())
    data["password"] = "wrong"
    bundle.write_text(json.dumps(data))
    code, _, err = site.run("site", "join", str(bundle), "--data", str(site.data))
    assert code == 2 and "password authentication failed" in err
    bad = site.tmp / "bad.bundle"
    bad.write_text("{not json")
    bad.chmod(0o600)
    code, _, err = site.run("site", "join", str(bad), "--data", str(site.data))
    assert code == 2 and "not a Kunci join bundle" in err
    bad.chmod(0o644)
    code, _, err = site.run("site", "join", str(bad), "--data", str(site.data))
    assert code == 1 and "0600" in err
    assert (site.data / "kunci.toml").read_text() == before
    assert (site.data / "secrets" / "pepper").read_bytes() == pepper
    assert not (site.data / "secrets" / "site-password").exists()


def test_add_controller_refuses_a_duplicate_and_an_existing_bundle(site: Site) -> None:
    bundle = join_site(site)
    code, _, err = site.run("site", "add-controller", "ctl1", "--site", str(site.dir), "--door", "main",
                            "--out", str(site.tmp / "other"))
    assert code == 2 and "exists already" in err
    code, _, err = site.run("site", "add-controller", "ctl9", "--site", str(site.dir), "--door", "main",
                            "--out", str(bundle))
    assert code == 2 and "exists already" in err


def _upload(site: Site, count: int) -> None:
    """Sealed events as the controller would upload them: its role, its audit key's chain."""
    data = json.loads((site.tmp / "ctl1.bundle").read_text())
    key = (site.data / "secrets" / "audit.key").read_bytes()
    prev = GENESIS_MAC
    with psycopg.connect(site.server.dsn(data["user"], data["password"], "kunci"), autocommit=True) as conn:
        cid = conn.execute("SELECT kunci.my_controller_id()").fetchone()[0]
        for seq in range(1, count + 1):
            values = [seq, f"2026-12-02T10:00:0{seq}.000000Z", "access.granted", None, "pin", "U0001", "main", None,
                      None, None]
            mac = hmac.digest(key, prev + canonical_fields(values), "sha256")
            conn.execute("INSERT INTO kunci.events (controller_id, seq, time, type, reason, method, user_code, door, "
                         "actor, score, detail, mac) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                         "ON CONFLICT (controller_id, seq) DO NOTHING", [cid, *values, mac])
            prev = mac


def test_verify_checks_the_uploaded_chain_and_names_the_first_break(site: Site) -> None:
    bundle = join_site(site)
    assert site.run("site", "join", str(bundle), "--data", str(site.data))[0] == 0
    _upload(site, 3)
    code, out, _ = site.run("site", "verify", "--site", str(site.dir))
    assert code == 0 and "ctl1: chain intact, 3 events checked, head seq 3" in out
    with site.server.connect("kunci") as conn:
        conn.execute("UPDATE kunci.events SET user_code = 'U0002' WHERE seq = 2")
    code, out, _ = site.run("site", "verify", "--site", str(site.dir), "--controller", "ctl1")
    assert code == 1 and "ctl1: BROKEN at seq 2" in out
    code, _, err = site.run("site", "verify", "--site", str(site.dir), "--controller", "nope")
    assert code == 1 and "no controller nope" in err


def test_admin_add_and_people(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    join_site(site)
    monkeypatch.setattr("sys.stdin", io.StringIO("a long staff passphrase 42\n"))
    code, out, err = site.run("site", "admin", "add", "ratna", "--site", str(site.dir), "--role", "admin",
                              "--room", "records", "--password-stdin")
    assert code == 0, err
    monkeypatch.setattr("sys.stdin", io.StringIO("a long staff passphrase 42\n"))
    code, _, err = site.run("site", "admin", "add", "budi", "--site", str(site.dir), "--role", "admin",
                            "--room", "nowhere", "--password-stdin")
    assert code == 1 and "no room nowhere" in err
    code, _, err = site.run("site", "people", "add", "--site", str(site.dir), "--group", "none")
    assert code == 1 and "no group none" in err


def test_join_refuses_to_break_local_pins_unless_told(site: Site) -> None:
    code, _, err = site.run("user", "add", "--data", str(site.data), "--name", "Local Person",
                            "--agreement-signed", "today")
    assert code == 0, err
    bundle = join_site(site)
    code, _, err = site.run("site", "join", str(bundle), "--data", str(site.data))
    assert code == 1 and "1 local people hold PINs" in err and "--replace-pepper" in err
    assert tomllib.loads((site.data / "kunci.toml").read_text())["site_link"]["enabled"] is False
    code, out, err = site.run("site", "join", str(bundle), "--data", str(site.data), "--replace-pepper")
    assert code == 0, err
    assert "1 local PINs no longer work" in out


def test_a_second_join_with_the_same_bundle_is_harmless(site: Site) -> None:
    bundle = join_site(site)
    assert site.run("site", "join", str(bundle), "--data", str(site.data))[0] == 0
    code, out, err = site.run("site", "join", str(bundle), "--data", str(site.data))
    assert code == 0, err
    assert "audit key uploaded" not in out
    assert (site.data / "kunci.toml").read_text().count("[site_link]") == 1


def test_init_again_reuses_the_stored_password(site: Site) -> None:
    args = [a for a in site.init_args()]
    i = args.index("--password-file")
    del args[i:i + 2]
    code, out, err = site.run(*args)
    assert code == 0 and "already at revision s0001" in out, err
