"""``kunci alert test``: send a test alarm to every alert destination (docs/alerts.md).

The daemon seals an ``alert.test_sent`` event with your account; every running destination (MQTT, webhook, e-mail)
delivers it like an alarm, through the same outbox. ``kunci status`` then shows each destination's last
success or error.
"""

from __future__ import annotations

import argparse

from controller.i18n import _
from controller.paths import DataDir


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    alert = sub.add_parser("alert", parents=[common], help="the alert destinations (MQTT, webhook, e-mail)")
    alert_sub = alert.add_subparsers(dest="alert_command", metavar="ACTION")
    alert_sub.required = True
    test = alert_sub.add_parser("test", parents=[common], help="send a test alarm to every destination",
                                description="Seals an alert.test_sent event with your account; every running "
                                            "destination delivers it like an alarm. Needs the running daemon; "
                                            "see 'kunci status' for each destination's delivery state.")
    test.set_defaults(func=run_test)


def run_test(args: argparse.Namespace) -> int:
    from controller.control.client import ControlClient

    result = ControlClient(DataDir.resolve(args.data).socket_path).call("alert.test")
    print(_("test alarm queued for {destinations}; 'kunci status' shows when each delivered it").format(
        destinations=", ".join(result["destinations"])))
    return 0
