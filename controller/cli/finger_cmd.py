"""``kunci finger enroll|delete CODE [--door NAME]``: fingerprint enrolment through the daemon (it owns the
sensors). Each door's sensor holds its own templates: enrol at the door the person will use (default: the
first door); ``delete`` without ``--door`` deletes the person's fingers at every door."""

from __future__ import annotations

import argparse

from controller.config import load_config
from controller.control.client import ControlClient
from controller.core.enrolment import EnrolStep, progress_wait_seconds
from controller.i18n import _
from controller.paths import DataDir
from controller.store.people import validate_code


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("finger", parents=[common], help="enrol or delete a person's fingerprint")
    fsub = p.add_subparsers(dest="finger_command", metavar="ACTION")
    fsub.required = True
    enroll = fsub.add_parser("enroll", parents=[common], help="enrol a finger for CODE (follow the prompts)")
    enroll.add_argument("code")
    enroll.add_argument("--door", metavar="NAME", help="the door whose sensor to enrol on (default: the first)")
    enroll.set_defaults(func=run_enroll)
    delete = fsub.add_parser("delete", parents=[common], help="delete CODE's fingerprint from the sensor and database")
    delete.add_argument("code")
    delete.add_argument("--door", metavar="NAME", help="only at this door's sensor (default: every door)")
    delete.set_defaults(func=run_delete)


def run_enroll(args: argparse.Namespace) -> int:
    code = validate_code(args.code)
    datadir = DataDir.resolve(args.data)
    config = load_config(datadir.config_file)
    sensor = next((s.sensor for s in config.door_setups if s.name == args.door), config.sensor)
    wait = progress_wait_seconds(sensor.enroll_step_timeout_seconds, sensor.command_timeout_seconds)
    client = ControlClient(datadir.socket_path, timeout=wait)
    where = {"door": args.door} if args.door else {}
    result = client.stream("finger.enroll", lambda line: print(f"... {_step_text(line)}", flush=True),
                           user=code, actor="cli", **where)
    print(_("{code}: finger enrolled in sensor slot {slot}").format(code=code, slot=result.get("slot")))
    return 0


def run_delete(args: argparse.Namespace) -> int:
    code = validate_code(args.code)
    result = ControlClient(DataDir.resolve(args.data).socket_path, timeout=15.0).call(
        "finger.delete", user=code, actor="cli", **({"door": args.door} if args.door else {})
    )
    print(_("{code}: {count} finger(s) deleted").format(code=code, count=result.get("deleted", 0)))
    return 0


def _step_text(line: dict) -> str:
    """The sentence for a progress line (the daemon's own message for a step this CLI does not know)."""
    try:
        step = EnrolStep(str(line.get("progress") or ""))
    except ValueError:
        return str(line.get("message") or line.get("progress"))
    return step.text  # the step's sentence in the reader's language
