"""``kunci sim ...``: drive the simulated hardware of a running daemon (simulation only).

``press KEYS`` types on the simulated matrix keypad key by key with human timing (the real
keypad driver scans it); ``finger LABEL`` touches the simulated sensor with finger LABEL
(same label = same finger) and lifts it after ``--hold`` seconds; ``lift`` lifts now;
``door open|close``, ``exit``, ``tamper on|off`` drive the door inputs. ``--door NAME`` (before the action)
drives that door's simulated hardware; without it, the first door's.
"""

from __future__ import annotations

import argparse
import re

from controller.control.client import ControlClient
from controller.errors import InvalidInput
from controller.i18n import T
from controller.paths import DataDir
from drivers.keys import KEYS_TEXT, MAX_TYPED_KEYS, is_key_sequence


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("sim", parents=[common], help="drive simulated hardware (demo / simulated daemon only)")
    p.add_argument("--door", metavar="NAME", help="the door whose simulated hardware to drive (default: the first)")
    sim = p.add_subparsers(dest="sim_command", metavar="ACTION")
    sim.required = True
    press = sim.add_parser("press", parents=[common], help="type keys on the simulated keypad, e.g. 123456#")
    press.add_argument("keys")
    press.set_defaults(func=run_press)
    finger = sim.add_parser("finger", parents=[common], help="touch the simulated sensor with finger LABEL")
    finger.add_argument("label")
    finger.add_argument("--hold", type=float, default=1.0, metavar="SECONDS", help="lift after this long (default 1.0)")
    finger.set_defaults(func=run_finger)
    lift = sim.add_parser("lift", parents=[common], help="lift the finger off the simulated sensor")
    lift.set_defaults(func=lambda a: _call(a, "sim.lift"))
    door = sim.add_parser("door", parents=[common], help="open or close the simulated door")
    door.add_argument("state", choices=["open", "close"])
    door.set_defaults(func=lambda a: _call(a, "sim.door", open=a.state == "open"))
    ex = sim.add_parser("exit", parents=[common], help="press the simulated request-to-exit button")
    ex.add_argument("--times", type=int, default=1, metavar="N", help="press it N times (1-1000, default 1)")
    ex.add_argument("--hold-ms", type=int, default=300, metavar="MS",
                    help="hold each press this long, and wait as long between presses (20-5000, default 300; "
                         "above the contact debounce, [door] door_contact_debounce_ms)")
    ex.set_defaults(func=run_exit)
    tamper = sim.add_parser("tamper", parents=[common], help="open (on) or close (off) the simulated enclosure")
    tamper.add_argument("state", choices=["on", "off"])
    tamper.set_defaults(func=lambda a: _call(a, "sim.tamper", active=a.state == "on"))


def _call(args: argparse.Namespace, cmd: str, timeout: float = 10.0, **params: object) -> int:
    door = getattr(args, "door", None)
    if door:
        params["door"] = door
    result = ControlClient(DataDir.resolve(args.data).socket_path, timeout=timeout).call(cmd, **params)
    message = result.get("message")
    if message:
        print(message)
    return 0


def run_press(args: argparse.Namespace) -> int:
    keys = args.keys.upper()
    if not is_key_sequence(keys):
        raise InvalidInput(T("keys must be 1-{count} of {keys} (quote them in the shell: '123456#')",
                             count=MAX_TYPED_KEYS, keys=KEYS_TEXT))
    return _call(args, "sim.press", timeout=60.0, keys=keys)


def run_exit(args: argparse.Namespace) -> int:
    if not 1 <= args.times <= 1000:
        raise InvalidInput(T("--times must be between 1 and 1000"))
    if not 20 <= args.hold_ms <= 5000:
        raise InvalidInput(T("--hold-ms must be between 20 and 5000"))
    seconds = args.times * 2 * args.hold_ms / 1000.0
    return _call(args, "sim.exit", timeout=30.0 + 2 * seconds, times=args.times, hold_ms=args.hold_ms)


def run_finger(args: argparse.Namespace) -> int:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", args.label):
        raise InvalidInput(T("a finger label is 1-32 letters, digits, '.', '_' or '-'"))
    if not 0.1 <= args.hold <= 30:
        raise InvalidInput(T("--hold must be between 0.1 and 30 seconds"))
    return _call(args, "sim.finger", label=args.label, hold_seconds=args.hold)
