"""``kunci door mode MODE [--door NAME]``, ``kunci lockdown on|off --reason TEXT [--door NAME]`` and ``kunci lockout
clear --reason TEXT``. With several doors, ``door mode`` without ``--door`` sets the first door's mode and
``lockdown`` without ``--door`` locks down (or ends the lockdown of) every door.

The first two are admin changes through the one writer (:func:`controller.control.changes.apply`): the running
daemon applies them at once (a lockdown relocks the strike before the command returns) and seals
``admin.door_mode_changed`` / ``lockdown.started`` / ``lockdown.ended`` with who asked and why.
``kunci lockout clear`` is the daemon's ``lockout.clear`` command (the lockout lives in the running daemon):
it seals ``lockout.ended`` with ``cleared_by_admin``, the account and the reason.
"""

from __future__ import annotations

import argparse

from controller.core.policy import DoorMode
from controller.core.vocabulary import LockoutChannel, values
from controller.i18n import T, _
from controller.paths import DataDir

#: What each door mode means, for the messages (in the reader's language) and ``kunci door mode --help``
#: (in English: :meth:`~controller.i18n.Text.english`).
MODE_HELP = {
    DoorMode.PIN: T("PIN only"),
    DoorMode.FINGER: T("fingerprint only"),
    DoorMode.PIN_OR_FINGER: T("PIN or fingerprint"),
    DoorMode.PIN_AND_FINGER: T("PIN and fingerprint of the same person"),
}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    door = sub.add_parser("door", parents=[common], help="the door's settings (mode)")
    door_sub = door.add_subparsers(dest="door_command", metavar="SETTING")
    door_sub.required = True
    mode = door_sub.add_parser("mode", parents=[common], help="set which credentials open the door",
                               description="; ".join(f"{m}: {MODE_HELP[m].english()}" for m in DoorMode))
    mode.add_argument("mode", choices=values(DoorMode), help="the new mode")
    mode.add_argument("--door", metavar="NAME", help="the door (default: the first door)")
    mode.set_defaults(func=run_mode)

    lockdown = sub.add_parser("lockdown", parents=[common], help="refuse every credential until ended",
                              description="While the lockdown is on, every PIN, finger, remote unlock and exit "
                                          "button unlock is refused and logged as 'lockdown'.")
    lockdown.add_argument("state", choices=("on", "off"))
    lockdown.add_argument("--reason", required=True, help="why (logged with your account)")
    lockdown.add_argument("--door", metavar="NAME", help="only this door (default: every door of the controller)")
    lockdown.set_defaults(func=run_lockdown)

    lockout = sub.add_parser("lockout", parents=[common], help="end a keypad or finger lockout early")
    lockout_sub = lockout.add_subparsers(dest="lockout_command", metavar="ACTION")
    lockout_sub.required = True
    clear = lockout_sub.add_parser("clear", parents=[common], help="end the lockout (or suspension) now",
                                   description="Ends a keypad (or fingerprint) lockout or suspension at once and "
                                               "forgets its failures; logged as lockout.ended with your account "
                                               "and reason. Needs the running daemon.")
    clear.add_argument("--channel", choices=values(LockoutChannel), default=LockoutChannel.KEYPAD.value,
                       help="which reader (default: keypad)")
    clear.add_argument("--reason", required=True, help="why (logged with your account)")
    clear.set_defaults(func=run_lockout_clear)


def run_mode(args: argparse.Namespace) -> int:
    from controller.control import changes

    where = {"door": args.door} if args.door else {}
    result = changes.apply(DataDir.resolve(args.data), "door.set_mode", {"mode": args.mode, **where})
    what = MODE_HELP[DoorMode(args.mode)]
    if result["changed"]:
        print(_("door {door}: mode is now {mode} ({meaning})").format(door=result["door"], mode=args.mode,
                                                                     meaning=what))
    else:
        print(_("door {door}: mode was already {mode} ({meaning}); nothing changed").format(
            door=result["door"], mode=args.mode, meaning=what))
    return 0


def run_lockdown(args: argparse.Namespace) -> int:
    from controller.control import changes

    on = args.state == "on"
    where = {"door": args.door} if args.door else {}
    result = changes.apply(DataDir.resolve(args.data), "door.lockdown", {"on": on, "reason": args.reason, **where})
    if result["changed"]:
        print((_("door {door}: lockdown ON: every credential is refused") if on
               else _("door {door}: lockdown off")).format(door=result["door"]))
    else:
        print((_("door {door}: lockdown was already on; nothing changed") if on
               else _("door {door}: lockdown was already off; nothing changed")).format(door=result["door"]))
    return 0


def run_lockout_clear(args: argparse.Namespace) -> int:
    from controller.control.client import ControlClient

    result = ControlClient(DataDir.resolve(args.data).socket_path).call(
        "lockout.clear", channel=args.channel, reason=args.reason)
    print(_("{channel} lockout ended; the next {channel} attempt is decided normally").format(
        channel=result["channel"]))
    return 0
