"""Fingerprint enrolment: the one list of steps and the one rule for how long a client waits for each.

The daemon reports each step as a progress line on the control socket (docs/internals.md "Control
socket"); the CLI prints its :attr:`EnrolStep.text` and the admin web shows it, each in its reader's
language (the daemon's own progress text is English). The sensor driver
names the same steps with plain strings (:data:`drivers.fingerprint.ENROLL_STEPS`: drivers never
import the controller), mapped here with ``EnrolStep(name)``. How long a person has for each step is
one setting, ``sensor.enroll_step_timeout_seconds``; :func:`progress_wait_seconds` derives from it how
long a client waits for the next line.
"""

from __future__ import annotations

from enum import StrEnum

from controller.i18n import T, Text


class EnrolStep(StrEnum):
    """One step of an enrolment, in the order the person goes through them."""

    PLACE_FINGER = "place_finger"
    LIFT_FINGER = "lift_finger"
    PLACE_AGAIN = "place_again"
    STORING = "storing"

    @property
    def message(self) -> Text:
        """What the person at the sensor is asked to do (one sentence), translated when shown."""
        return _TEXT[self]

    @property
    def text(self) -> str:
        """:attr:`message` in the current language."""
        return str(_TEXT[self])


_TEXT = {
    EnrolStep.PLACE_FINGER: T("Place the finger on the sensor."),
    EnrolStep.LIFT_FINGER: T("Lift the finger."),
    EnrolStep.PLACE_AGAIN: T("Place the same finger again."),
    EnrolStep.STORING: T("Storing the fingerprint..."),
}

#: Sensor commands that can run between two progress lines besides the wait for the person: the
#: identify poll in flight when the enrolment starts, a capture, a search or merge, a store.
_COMMANDS_PER_STEP = 4
#: Allowance for the daemon's database step (pending row, activation) between two lines (seconds).
_DATABASE_ALLOWANCE_SECONDS = 10.0


def progress_wait_seconds(step_timeout_seconds: float, command_timeout_seconds: float) -> float:
    """How long the CLI or the web waits for the daemon's next enrolment line (seconds).

    Longer than the daemon's own wait for the person (``step_timeout_seconds``), so the client
    never gives up first: the daemon always ends an enrolment with a clear answer.

    :param step_timeout_seconds: ``sensor.enroll_step_timeout_seconds``.
    :param command_timeout_seconds: ``sensor.command_timeout_seconds`` (each sensor reply's deadline).
    """
    return step_timeout_seconds + _COMMANDS_PER_STEP * command_timeout_seconds + _DATABASE_ALLOWANCE_SECONDS
