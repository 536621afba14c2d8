"""The CLI dispatcher: every command is registered by the module the lazy table names."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from controller import cli


def _registered(module_names) -> dict[str, str]:
    import importlib

    owners = {}
    for name in module_names:
        common = argparse.ArgumentParser(add_help=False)
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        importlib.import_module(f"controller.cli.{name}").register(sub, common)
        for command in sub.choices:
            owners[command] = name
    return owners


def test_the_lazy_table_names_the_module_that_registers_each_command() -> None:
    assert _registered(cli.COMMAND_MODULES) == cli.COMMAND_OWNERS


@pytest.mark.parametrize(
    ("argv", "word"),
    [(["run"], "run"), (["--data", "x", "user", "add"], "user"), (["-h"], None), (["--data", "run"], None)],
)
def test_command_word_skips_the_data_option(argv, word) -> None:
    assert cli._command_word(argv) == word


def test_kunci_run_does_not_import_the_web_or_backup_code() -> None:
    code = (
        "import sys; from controller.cli import build_parser; build_parser(['run']); "
        "print(sorted(m for m in ('flask', 'webadmin', 'controller.ops.backup', 'argon2', 'alembic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_still_lists_every_command(capsys) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    for command in cli.COMMAND_OWNERS:
        assert command in text
