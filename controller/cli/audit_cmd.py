"""``kunci audit verify`` and ``kunci audit head``: check and show the event chain."""

from __future__ import annotations

import argparse

from sqlalchemy import Engine

from controller.audit import GENESIS_MAC, SealerLock, head, seal_pending, verify
from controller.config import load_config
from controller.db import open_database, session_factory
from controller.errors import DataDirError, InvalidInput
from controller.keys import load_audit_key
from controller.paths import DataDir


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``audit verify`` and ``audit head``."""
    parser = subparsers.add_parser("audit", parents=[common], help="check the tamper-evident event chain")
    sub = parser.add_subparsers(dest="audit_command", metavar="ACTION")
    sub.required = True
    check = sub.add_parser(
        "verify",
        parents=[common],
        help="seal pending events (if the daemon is stopped) and verify the whole chain (exit 1 if broken)",
    )
    check.add_argument(
        "--anchor",
        metavar="SEQ:MAC",
        help="a chain head exported earlier (e.g. from an export header); detects a truncated log",
    )
    check.set_defaults(func=run_verify)
    show = sub.add_parser("head", parents=[common], help="print the chain head (seq and MAC) to keep off the device")
    show.set_defaults(func=run_head)


def _open(datadir: DataDir) -> Engine:
    if not datadir.root.is_dir():
        raise DataDirError(f"{datadir.root} does not exist; run 'kunci init' first")
    config = load_config(datadir.config_file)
    return open_database(datadir, config.store.url, busy_timeout_ms=config.store.busy_timeout_ms)


def parse_anchor(text: str) -> tuple[int, str]:
    """``"SEQ:MAC"`` (also ``seq=SEQ mac=MAC``) -> ``(seq, mac_hex)``; InvalidInput if malformed."""
    cleaned = text.replace("seq=", "").replace("mac=", "").replace(" ", ":").strip(":")
    parts = [p for p in cleaned.split(":") if p]
    if len(parts) != 2 or not parts[0].isdigit():
        raise InvalidInput("--anchor must look like SEQ:MAC (e.g. 1234:9f2c...)")
    mac = parts[1].lower()
    try:
        if len(bytes.fromhex(mac)) != 32:
            raise ValueError
    except ValueError:
        raise InvalidInput("--anchor MAC must be 64 hexadecimal characters") from None
    return int(parts[0]), mac


def run_verify(args: argparse.Namespace) -> int:
    """Seal pending rows when the sealer lock is free, then verify; exit 0 if intact, 1 if broken."""
    datadir = DataDir.resolve(args.data)
    anchor = parse_anchor(args.anchor) if args.anchor else None
    engine = _open(datadir)
    try:
        key = load_audit_key(datadir)
        lock = SealerLock(datadir)
        sealed = 0
        if lock.try_acquire():
            try:
                with session_factory(engine)() as session, session.begin():
                    sealed = seal_pending(session, key)
            finally:
                lock.release()
        with session_factory(engine, readonly=True)() as session, session.begin():
            result = verify(session, key, anchor=anchor)
    finally:
        engine.dispose()
    if sealed:
        print(f"sealed {sealed} pending event{'s' if sealed != 1 else ''}")
    if not result.ok:
        print(f"audit chain BROKEN at seq {result.first_bad_seq}: {result.problem}")
        return 1
    seq = result.head_seq or 0
    mac = result.head_mac_hex or GENESIS_MAC.hex()
    print(f"audit chain OK: {result.checked} events, head seq={seq} mac={mac}")
    if result.pending:
        print(f"{result.pending} newer events are waiting for the daemon to seal them")
    return 0


def run_head(args: argparse.Namespace) -> int:
    """Print ``head seq=S mac=HEX`` (``seq=0`` and zeros for an empty chain)."""
    engine = _open(DataDir.resolve(args.data))
    try:
        with session_factory(engine, readonly=True)() as session, session.begin():
            found = head(session)
    finally:
        engine.dispose()
    seq, mac = found if found is not None else (0, GENESIS_MAC.hex())
    print(f"head seq={seq} mac={mac}")
    return 0
