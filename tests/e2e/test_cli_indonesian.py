"""The command line in Bahasa Indonesia, as a person uses it: ``kunci demo`` runs (in English), and the
commands are typed with ``KUNCI_LANG=id``: ``kunci user add`` says its line in Indonesian and prints the PIN
once, that PIN opens the door (``kunci sim press``), ``kunci log`` has an Indonesian header naming the site's
time zone, a missing person is refused in Indonesian both where the CLI reads the database itself
(``user show``) and where the daemon refuses across the control socket (``user suspend``), and ``kunci
status`` reads in Indonesian. After the demo stopped, the same ``kunci log`` with ``KUNCI_LANG=en`` reads in
English and still holds the grant."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.product import KUNCI, Demo, log_events, pin_grants, wait_until

pytestmark = pytest.mark.e2e

ZONE = "Asia/Jakarta"


def kunci_in(language: str, data: Path, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``KUNCI_LANG=LANGUAGE kunci ARGV --data DATA``; with ``check`` a non-zero exit fails the test."""
    proc = subprocess.run([*KUNCI, *argv, "--data", str(data)], capture_output=True, text=True, timeout=120,
                          check=False, stdin=subprocess.DEVNULL, env={**os.environ, "KUNCI_LANG": language})
    if check and proc.returncode != 0:
        raise AssertionError(f"kunci {' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def _row(table: str, *words: str) -> list[str]:
    """The cells (split on blanks) of the one table line holding every word of ``words``."""
    rows = [line.split() for line in table.splitlines() if all(w in line.split() for w in words)]
    assert len(rows) == 1, f"expected one row with {words}:\n{table}"
    return rows[0]


def test_the_cli_speaks_indonesian_and_english_on_the_same_data(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("KUNCI_LANG", raising=False)  # the demo and log_events() run in English
    data = tmp_path / "kunci-demo"
    data.mkdir(mode=0o750)
    (data / "kunci.toml").write_text(f'simulated = true\n\n[site]\ntimezone = "{ZONE}"\n', encoding="utf-8")
    (data / "kunci.toml").chmod(0o640)
    demo = Demo.start(data, tmp_path / "demo.out")
    try:
        # user add: the one line in Indonesian, the PIN printed once.
        added = kunci_in("id", data, "user", "add", "--name", "Ani Arsip", "--agreement-signed", "today").stdout
        found = re.fullmatch(r"(U\d{4,})  PIN (\d+)  \(ditampilkan sekali; berikan kepada personel tersebut\)\n", added)
        assert found, added
        code, pin = found.groups()
        shown = kunci_in("id", data, "user", "show", code).stdout
        assert re.search(rf"^kode:\s+{code}$", shown, re.MULTILINE), shown
        assert re.search(r"^perjanjian ditandatangani:\s+\d{4}-\d\d-\d\d$", shown, re.MULTILINE), shown
        assert re.search(r"^PIN:\s+ya$", shown, re.MULTILINE) and pin not in shown, shown

        kunci_in("id", data, "sim", "press", pin + "#")
        wait_until(lambda: pin_grants(log_events(data), code), what="a grant for the new PIN")

        # kunci log: Indonesian header with the site's zone; raw values (code, event type) unchanged.
        log_id = kunci_in("id", data, "log", "--user", code).stdout
        header = log_id.splitlines()[0].split()
        assert header[:5] == ["NO.", "URUT", "WAKTU", f"({ZONE})", "JENIS"], log_id
        assert {"ALASAN", "METODE", "PERSONEL", "PELAKU"} <= set(header), log_id  # PINTU: with several doors
        granted_id = _row(log_id, code, "access.granted")

        # A missing person: refused in Indonesian where the CLI reads (user show) and where the daemon
        # refuses over the control socket (user suspend).
        for argv in (("user", "show", "U9999"), ("user", "suspend", "U9999")):
            missing = kunci_in("id", data, *argv, check=False)
            assert missing.returncode != 0 and missing.stdout == "", missing
            assert missing.stderr == "kunci: kesalahan: tidak ada personel dengan kode U9999\n", (argv, missing.stderr)
            english = kunci_in("en", data, *argv, check=False)
            assert english.stderr == "kunci: error: no person with code U9999\n", (argv, english.stderr)

        status = kunci_in("id", data, "status").stdout
        lines = (r"pintu:\s+(Terkunci|Tidak terkunci|Terbuka) \(kontak (terbuka|tertutup)\)",
                 r"mode:\s+PIN atau sidik jari \(pin_or_finger\)",
                 r"relai:\s+(BERENERGI \(tidak terkunci\)|mati \(terkunci\))",
                 r"jam:\s+(tepercaya|TIDAK tepercaya.*)", r"log:\s+ok.*", r"perangkat:\s+SIMULASI")
        for line in lines:
            assert re.search(rf"^{line}$", status, re.MULTILINE), (line, status)
        assert not re.search(r"^(door|relay|clock|hardware):", status, re.MULTILINE), status
        assert demo.stop() == 0, demo.text
    finally:
        if demo.proc.poll() is None:
            demo.kill()

    # The demo has stopped: the same data read in English, and the grant is still there.
    log_en = kunci_in("en", data, "log", "--user", code).stdout
    assert log_en.splitlines()[0].split() == ["SEQ", "TIME", f"({ZONE})", "TYPE", "REASON", "METHOD", "USER",
                                              "ACTOR"], log_en  # DOOR appears when the rows name several doors
    assert _row(log_en, code, "access.granted") == granted_id
    assert pin_grants(log_events(data), code)
    shown = kunci_in("en", data, "user", "show", code).stdout
    assert re.search(rf"^code:\s+{code}$", shown, re.MULTILINE) and re.search(r"^PIN:\s+yes$", shown, re.MULTILINE)
