"""``kunci audit verify`` as the product runs it: a fresh process on a directory made by ``kunci init`` whose
events were written by ``kunci user add`` (sealed under the sealer lock, heads in the anchor file), and
the fast path's promise that it imports no SQLAlchemy (docs/performance.md W10)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.controller.test_log_integrity_process import kunci, prepare, sql

pytestmark = pytest.mark.slow

#: Runs the real command in this interpreter, then says which heavy libraries it loaded.
PROBE = """
import sys
from controller.cli import main
code = main(["audit", "verify", "--data", sys.argv[1]])
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"sqlalchemy", "alembic", "flask"})
print("exit", code, "heavy", ",".join(heavy) or "none")
"""


def test_verify_on_a_product_directory_without_sqlalchemy(tmp_path: Path) -> None:
    root, _ = prepare(tmp_path / "data", people=3)
    checked = kunci(root, "audit", "verify")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "audit chain OK: 3 events, head seq=3 mac=" in checked.stdout
    assert "anchor file: newest head seq=3 " in checked.stdout
    assert checked.stderr == ""  # stderr is not a terminal: no progress line

    probe = subprocess.run([sys.executable, "-c", PROBE, str(root)], capture_output=True, text=True, timeout=120,
                           check=False)
    assert probe.returncode == 0, probe.stderr
    assert "exit 0 heavy none" in probe.stdout

    sql(root, "UPDATE events SET door = 'back' WHERE seq = 2")
    broken = kunci(root, "audit", "verify")
    assert broken.returncode == 1
    assert "audit chain BROKEN at seq 2: seq 2 (event id" in broken.stdout


def test_verify_process_detects_a_deleted_tail_against_the_anchor_file(tmp_path: Path) -> None:
    root, _ = prepare(tmp_path / "data", people=3)
    sql(root, "DELETE FROM events WHERE seq = 3")
    broken = kunci(root, "audit", "verify")
    assert broken.returncode == 1
    assert "audit chain BROKEN: truncated/rewritten: the anchor names seq 3" in broken.stdout
