"""``kunci site web``: refuses to start on an unreachable or unmigrated site database, reads ``[web]`` of
site.toml, and serves the page over HTTPS only as a real process that stops cleanly on Ctrl-C."""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from controller.cli.site_web_cmd import check_database
from controller.errors import ConfigError, StoreError
from controller.site.setup import init_site
from tests.polling import wait_for
from tests.site_web.conftest import HASHER, seed


@pytest.fixture
def site_dir(site_db: Any, tmp_path: Path) -> Path:
    directory = tmp_path / "site"
    init_site(directory, site_db.settings(), site_db.password)
    return directory


def test_the_database_check_passes_at_head_and_refuses_an_old_schema_or_a_stopped_server(site_db: Any,
                                                                                       site_dir: Path) -> None:
    check_database(site_dir)
    with site_db.engine.begin() as conn:
        conn.execute(text("UPDATE kunci.alembic_version SET version_num = 's0000'"))
    with pytest.raises(StoreError, match="kunci site init"):
        check_database(site_dir)
    with site_db.engine.begin() as conn:
        conn.execute(text("DROP TABLE kunci.alembic_version"))
    with pytest.raises(StoreError, match="at revision -"):
        check_database(site_dir)
    site_db.server.stop()
    try:
        with pytest.raises(StoreError, match="cannot reach the site database"):
            check_database(site_dir)
    finally:
        site_db.server.start()


@pytest.mark.parametrize(("web", "problem"), [
    ('language = "fr"', "web.language must be one of en, id"),
    ('timezone = "Mars/Olympus"', "web.timezone Mars/Olympus is not a known time zone"),
    ('colour = "red"', "unknown key web.colour"),
    ("name = 3", "must be text"),
])
def test_a_bad_web_table_is_refused_naming_the_key(site_dir: Path, web: str, problem: str) -> None:
    from webadmin.site import create_site_app

    with open(site_dir / "site.toml", "a") as f:
        f.write(f"[web]\n{web}\n")
    with pytest.raises(ConfigError, match=problem.replace(".", r"\.")):
        create_site_app(site_dir, test_config={"KUNCI_SITE_SERVICE": object()})


def test_the_web_table_names_the_site_and_sets_its_language(site_dir: Path) -> None:
    from webadmin.site import create_site_app

    with open(site_dir / "site.toml", "a") as f:
        f.write('[web]\nname = "Kantor Pusat"\nlanguage = "id"\ntimezone = "Asia/Jakarta"\n')
    app = create_site_app(site_dir, test_config={"KUNCI_SITE_SERVICE": object()})
    page = app.test_client().get("/login", base_url="https://localhost").get_data(as_text=True)
    assert "Kantor Pusat" in page and 'lang="id"' in page and "Masuk ke lokasi" in page


def test_the_real_process_serves_https_only_and_stops_cleanly(site_dir: Path, tmp_path: Path) -> None:
    from controller.site.service import SiteService

    seed(SiteService.for_site(site_dir, hasher=HASHER))
    port_file = tmp_path / "port"
    proc = subprocess.Popen([sys.executable, "-m", "controller", "site", "web", "--site", str(site_dir), "--port", "0",
                             "--port-file", str(port_file)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        wait_for(lambda: proc.poll() is not None or port_file.exists(), timeout=60, what="the port file")
        assert port_file.exists(), proc.stdout.read()
        port = int(port_file.read_text())
        context = ssl.create_default_context(cafile=str(site_dir / "tls" / "cert.pem"))
        context.check_hostname = False
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/login", context=context, timeout=30) as response:
            body = response.read().decode()
            assert response.status == 200 and "Log in to the site" in body
            assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        with pytest.raises(Exception):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=30).read()
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "Kunci site page: https://127.0.0.1:" in out and "Certificate SHA-256 fingerprint" in out
    assert not port_file.exists()


def test_the_page_keeps_its_sessions_in_a_private_file_and_says_so_when_it_cannot(tmp_path: Path) -> None:
    from webadmin.site import create_site_app

    create_site_app(tmp_path, test_config={"KUNCI_SITE_SERVICE": object()})
    assert (tmp_path / "web").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "web" / "web.db").stat().st_mode & 0o777 == 0o600
    blocked = tmp_path / "other"
    blocked.mkdir()
    (blocked / "web").write_text("not a directory")
    with pytest.raises(StoreError, match="web's database"):
        create_site_app(blocked, test_config={"KUNCI_SITE_SERVICE": object()})
