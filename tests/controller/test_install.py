"""kunci install-service into a scratch root (twice), the units under systemd-analyze, and journal logging."""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from controller.cli import main
from controller.cli.daemon_cmd import JOURNAL_FORMAT, JournalFormatter, stderr_is_journal
from controller.ops.install import install_service, scratch_executable
from controller.ops.install_plan import (
    DOOR_USER,
    GROUP,
    MANIFEST,
    UNIT_NAMES,
    WEB_USER,
    InstallError,
    account_commands,
    find_units_dir,
    parse_manifest,
    plan_paths,
)

DATA = PurePosixPath("/var/lib/kunci")
PREFIX = PurePosixPath("/opt/kunci")
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed (apt-get install systemd); units not verified"
)


class FakeAccounts:
    """Account lookups from a dict; records commands instead of running them."""

    def __init__(self, users: dict[str, set[str]] | None = None, groups: set[str] | None = None) -> None:
        self.users = users or {}
        self.groups = groups if groups is not None else {"gpio", "dialout"}
        self.ran: list[list[str]] = []

    def user_exists(self, name: str) -> bool:
        return name in self.users

    def group_exists(self, name: str) -> bool:
        return name in self.groups

    def user_groups(self, name: str) -> set[str]:
        return self.users[name]

    def run(self, argv: list[str]) -> None:
        self.ran.append(list(argv))


def under(root: Path, path: PurePosixPath) -> Path:
    return root / str(path).lstrip("/")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


def test_install_twice_into_scratch_root(root: Path) -> None:
    accounts = FakeAccounts()
    first = install_service(root, DATA, PREFIX, accounts=accounts)
    assert first.changes, "the first run must do something"
    assert any("wrote" in c and c.endswith("kunci-door.service") for c in first.changes)
    second = install_service(root, DATA, PREFIX, accounts=accounts)
    assert second.changes == [], second.changes
    assert accounts.ran == [], "a scratch install must never create accounts"
    assert any("no accounts created" in n for n in second.notes)


def test_manifest_lists_intended_owners_and_the_modes_are_applied(root: Path) -> None:
    install_service(root, DATA, PREFIX, accounts=FakeAccounts())
    entries = parse_manifest(under(root, MANIFEST).read_text())
    assert entries == plan_paths(DATA)
    by_path = {str(e.path): e for e in entries}
    assert (by_path["/var/lib/kunci"].mode, by_path["/var/lib/kunci"].owner) == (0o750, DOOR_USER)
    assert (by_path["/var/lib/kunci/secrets"].mode, by_path["/var/lib/kunci/secrets"].owner) == (0o700, DOOR_USER)
    db = by_path["/var/lib/kunci/kunci.db"]
    assert (db.mode, db.owner, db.group) == (0o640, DOOR_USER, GROUP), "the web's group may read, never write"
    assert (by_path["/var/lib/kunci/web"].mode, by_path["/var/lib/kunci/web"].owner) == (0o750, WEB_USER)
    assert by_path["/var/lib/kunci/run"].mode == 0o750
    assert by_path["/var/lib/kunci/tls/key.pem"].owner == WEB_USER
    for entry in entries:
        path = under(root, entry.path)
        assert path.exists(), f"{entry.path} was not created"
        assert stat.S_IMODE(path.stat().st_mode) == entry.mode, entry.path
        assert path.is_dir() == (entry.kind == "dir")


def test_units_are_copied_with_prefix_and_data_filled_in(root: Path) -> None:
    install_service(root, PurePosixPath("/srv/door"), PurePosixPath("/usr/local/kunci"), accounts=FakeAccounts())
    door = under(root, PurePosixPath("/etc/systemd/system/kunci-door.service")).read_text()
    web = under(root, PurePosixPath("/etc/systemd/system/kunci-web.service")).read_text()
    assert "ExecStart=/usr/local/kunci/venv/bin/kunci run --data /srv/door\n" in door
    assert "ReadWritePaths=/srv/door\n" in door and "/var/lib/kunci" not in door
    assert "ExecStart=/usr/local/kunci/venv/bin/kunci web --data /srv/door\n" in web
    assert "InaccessiblePaths=-/srv/door/secrets\n" in web
    assert (root / "srv/door/secrets/pepper").is_file()


def test_shipped_units_carry_the_required_settings() -> None:
    units = find_units_dir(PREFIX)
    door = (units / "kunci-door.service").read_text()
    web = (units / "kunci-web.service").read_text()
    for line in ("Type=notify", "WatchdogSec=5", "Restart=always", "User=kunci-door", "SupplementaryGroups=gpio dialout",
                 "ProtectSystem=strict", "ReadWritePaths=/var/lib/kunci", "NoNewPrivileges=yes",
                 "RestrictAddressFamilies=AF_UNIX", "IPAddressDeny=any", "Environment=LG_WD=/run/kunci-door",
                 "DevicePolicy=closed", "DeviceAllow=/dev/gpiochip0 rw", "CapabilityBoundingSet=",
                 "SystemCallFilter=adjtimex"):
        assert re.search(rf"^{re.escape(line)}$", door, re.M), line
    assert not re.search(r"^ProtectClock=", door, re.M), "ProtectClock denies adjtimex, which the clock-trust check needs"
    for line in ("User=kunci-web", "Restart=on-failure", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
                 "InaccessiblePaths=-/var/lib/kunci/secrets", "NoNewPrivileges=yes",
                 "ReadWritePaths=/var/lib/kunci/web"):
        assert re.search(rf"^{re.escape(line)}$", web, re.M), line
    assert not re.search(r"^ReadWritePaths=/var/lib/kunci$", web, re.M), "the web never writes the door's files"


def test_users_to_create_in_sysusers_format(root: Path) -> None:
    install_service(root, DATA, PREFIX, accounts=FakeAccounts())
    text = under(root, PurePosixPath("/etc/kunci/users-to-create.txt")).read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert "g kunci -" in lines
    assert any(line.startswith("u kunci-door -:kunci ") for line in lines)
    assert any(line.startswith("u kunci-web -:kunci ") for line in lines)
    assert {"m kunci-door gpio", "m kunci-door dialout"} <= set(lines)
    assert not any(line.startswith("m kunci-web") for line in lines), "the web user needs no device groups"


def test_mode_drift_is_repaired_and_reported(root: Path) -> None:
    install_service(root, DATA, PREFIX, accounts=FakeAccounts())
    pepper = under(root, DATA / "secrets/pepper")
    os.chmod(pepper, 0o644)
    report = install_service(root, DATA, PREFIX, accounts=FakeAccounts())
    assert report.changes == [f"set mode 0600 (was 0644) on {pepper}"]
    assert stat.S_IMODE(pepper.stat().st_mode) == 0o600


def test_dry_run_writes_nothing(root: Path) -> None:
    report = install_service(root, DATA, PREFIX, accounts=FakeAccounts(), dry_run=True)
    assert any(c.startswith("would write") for c in report.changes)
    assert not root.exists()


def test_real_system_needs_root_and_never_runs_for_a_normal_user() -> None:
    accounts = FakeAccounts()
    with pytest.raises(InstallError, match="run as root"):
        install_service(Path("/"), DATA, PREFIX, accounts=accounts, is_root=False)
    assert accounts.ran == []


def test_relative_paths_are_refused(root: Path) -> None:
    with pytest.raises(InstallError, match="absolute"):
        install_service(root, PurePosixPath("var/lib/kunci"), PREFIX, accounts=FakeAccounts())


@pytest.mark.parametrize(
    ("users", "groups", "expected"),
    [
        ({}, {"gpio", "dialout"}, [
            ["groupadd", "--system", "kunci"],
            ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
             "--gid", "kunci", "--comment", "Kunci door daemon", "--groups", "gpio,dialout", "kunci-door"],
            ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
             "--gid", "kunci", "--comment", "Kunci admin web", "kunci-web"],
        ]),
        ({}, {"kunci", "dialout"}, [  # no gpio group on this machine: only dialout
            ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
             "--gid", "kunci", "--comment", "Kunci door daemon", "--groups", "dialout", "kunci-door"],
            ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
             "--gid", "kunci", "--comment", "Kunci admin web", "kunci-web"],
        ]),
        ({"kunci-door": {"kunci", "gpio"}, "kunci-web": {"kunci"}}, {"kunci", "gpio", "dialout"},
         [["usermod", "--append", "--groups", "dialout", "kunci-door"]]),
        ({"kunci-door": {"kunci", "gpio", "dialout"}, "kunci-web": {"kunci"}}, {"kunci", "gpio", "dialout"}, []),
    ],
    ids=["fresh", "no-gpio-group", "missing-dialout", "all-present"],
)
def test_account_commands(users: dict[str, set[str]], groups: set[str], expected: list[list[str]]) -> None:
    assert account_commands(FakeAccounts(users, groups)) == expected


def test_cli_twice_says_nothing_changed(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install-service", "--root", str(root)]) == 0
    first = capsys.readouterr().out
    assert "wrote" in first and "kunci-web.service" in first
    assert main(["install-service", "--root", str(root)]) == 0
    assert "nothing to change" in capsys.readouterr().out


def _verify_root(root: Path) -> Path:
    """A scratch root systemd-analyze can verify against: the units, a stand-in executable, system targets."""
    install_service(root, DATA, PREFIX, accounts=FakeAccounts())
    scratch_executable(root, PREFIX)
    system = root / "usr/lib/systemd/system"
    system.mkdir(parents=True, exist_ok=True)
    for unit in Path("/usr/lib/systemd/system").glob("*"):
        if unit.suffix in (".target", ".slice") and unit.is_file():
            shutil.copy(unit, system / unit.name)
    return root


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert SYSTEMD_ANALYZE is not None
    return subprocess.run([SYSTEMD_ANALYZE, *args], capture_output=True, text=True, timeout=60)


@needs_systemd_analyze
def test_systemd_analyze_verify_accepts_the_installed_units(root: Path) -> None:
    _verify_root(root)
    units = [f"/etc/systemd/system/{name}" for name in UNIT_NAMES]
    result = _analyze("verify", f"--root={root}", *units)
    # verify exits 0 even for unknown keys; any output at all is a finding
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    # and it does notice a broken installation (the test can fail)
    (root / "opt/kunci/venv/bin/kunci").unlink()
    broken = _analyze("verify", f"--root={root}", *units)
    assert broken.returncode != 0 and "not executable" in broken.stderr


@needs_systemd_analyze
@pytest.mark.parametrize("unit", UNIT_NAMES)
def test_security_exposure_is_low(root: Path, unit: str) -> None:
    _verify_root(root)
    result = _analyze("security", "--offline=yes", f"--root={root}", f"/etc/systemd/system/{unit}")
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert found, result.stdout[-500:] + result.stderr
    assert float(found.group(1)) <= 2.0  # docs/install-pi.md "7. Service hardening"


# --- the daemon's log lines under systemd (its stderr is the journal) -----------------------------


def test_journal_stream_detection(tmp_path: Path) -> None:
    with open(tmp_path / "stderr", "w") as stream:
        st = os.fstat(stream.fileno())
        assert stderr_is_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, stream)
        assert not stderr_is_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"}, stream)
        assert not stderr_is_journal({}, stream)


def test_journal_format_has_priority_and_no_timestamp() -> None:
    formatter = JournalFormatter(JOURNAL_FORMAT)
    record = logging.LogRecord("controller.daemon.journal", logging.WARNING, __file__, 1,
                               "event %s reason=%s method=%s user=%s", ("door.forced", "-", "-", "-"), None)
    assert formatter.format(record) == "<4>WARNING controller.daemon.journal: event door.forced reason=- method=- user=-"


def test_event_lines_carry_codes_not_names_or_pins(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from controller.store import db, keys
    from controller.ops.initialise import initialise
    from controller.daemon.journal import Journal
    from controller.paths import DataDir

    datadir = DataDir(tmp_path / "data")
    initialise(datadir)
    engine = db.open_database(datadir)
    try:
        journal = Journal(db.session_factory(engine)(), keys.load_audit_key(datadir), "main")
        with caplog.at_level(logging.INFO, logger="controller.daemon.journal"):
            journal.write("access.denied", reason="unknown_credential", method="pin", user=None)
            journal.write("access.granted", method="pin", user="U0042", score=None)
            journal.write("door.forced")
        journal.session.close()
    finally:
        engine.dispose()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "controller.daemon.journal"]
    assert lines == [
        ("INFO", "event access.denied reason=unknown_credential method=pin user=-"),
        ("INFO", "event access.granted reason=- method=pin user=U0042"),
        ("WARNING", "event door.forced reason=- method=- user=-"),
    ]
