"""The layout keeps its promises: the import-linter contracts in pyproject.toml hold (docs/internals.md "Layout")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_no_module_is_over_400_lines_unless_it_says_why() -> None:
    """STYLE rule 15: a module you can read in one sitting; a longer one says in its first lines why it is one."""
    too_long = []
    for path in sorted((REPO / "controller").rglob("*.py")) + sorted((REPO / "drivers").rglob("*.py")) + \
            sorted((REPO / "webadmin").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > 400 and "one cohesive" not in "\n".join(lines[:15]).lower():
            too_long.append(f"{path.relative_to(REPO)} ({len(lines)} lines)")
    assert too_long == []
