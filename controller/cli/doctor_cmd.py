"""``kunci doctor``: check an installation (files, boot config, sensor, clock, TLS, disk, database, audit chain)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from controller.i18n import _
from controller.ops.doctor import DoctorOptions, exit_code, run_doctor
from controller.ops.doctor_findings import Status


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``doctor``."""
    p = subparsers.add_parser(
        "doctor",
        parents=[common],
        help="check the installation and print each finding with its fix (exit 0 only when nothing is wrong)",
        description="Check configuration, permissions, boot configuration, sensor, clock, TLS certificate, disk "
                    "space, database and audit chain. Run it as the kunci-door user (or root) so it can read "
                    "the audit key: sudo -u kunci-door kunci doctor",
    )
    p.add_argument("--root", metavar="PREFIX", default="/",
                   help="the target system's / (a scratch root from `install-service --root`); default /")
    p.add_argument("--boot-config", metavar="FILE", default=None,
                   help="config.txt on the target (default /boot/firmware/config.txt, else /boot/config.txt)")
    p.add_argument("--cmdline", metavar="FILE", default=None,
                   help="cmdline.txt on the target (default /boot/firmware/cmdline.txt, else /boot/cmdline.txt)")
    p.add_argument("--json", action="store_true", help="print the findings as a JSON object")
    p.add_argument("--allow-warnings", action="store_true", help="exit 0 when there are warnings but no failures")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run every check, print one line per finding, return 0 only when nothing is wrong."""
    options = DoctorOptions(
        root=Path(args.root),
        data=Path(args.data) if args.data else None,
        boot_config=Path(args.boot_config) if args.boot_config else None,
        cmdline=Path(args.cmdline) if args.cmdline else None,
    )
    findings = run_doctor(options)
    code = exit_code(findings, args.allow_warnings)
    counts = {s: sum(1 for f in findings if f.status is s) for s in Status}
    if args.json:
        print(json.dumps({"ok": code == 0, "findings": [f.as_dict() for f in findings],
                          "counts": {str(s): n for s, n in counts.items()}}, indent=2))
        return code
    for f in findings:
        line = f"{f.status:<4} {f.check}: {f.message}"
        if f.fix and f.status is not Status.OK:
            line += _(" -- fix: {fix}").format(fix=f.fix)
        print(line)
    print(_("doctor: {fail} FAIL, {warn} WARN, {ok} OK").format(fail=counts[Status.FAIL], warn=counts[Status.WARN],
                                                             ok=counts[Status.OK]))
    return code
