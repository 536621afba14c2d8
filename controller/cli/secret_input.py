"""Reading a password or passphrase for the CLI: a prompt on the terminal, or one line of standard input.

A prompt needs a terminal (getpass opens ``/dev/tty``). Without one - under systemd, over ``ssh``
without ``-t``, in a script with ``</dev/null`` or stdin closed - getpass would fall back to reading
standard input with echo, or die with ``EOFError``; both are refused here with a one-line
:class:`~controller.errors.InvalidInput` that names the option to use instead.
"""

from __future__ import annotations

import getpass
import logging
import sys
import warnings

from controller.errors import InvalidInput
from controller.i18n import T

logger = logging.getLogger(__name__)


def ask_secret(prompt: str, *, what: str, option: str) -> str:
    """Ask for a secret on the terminal without echo.

    :param prompt: the question shown on the terminal.
    :param what: what is asked for (``"password"``, in the reader's language), for the error.
    :param option: the command-line option that reads the secret from standard input instead
        (``--password-stdin``), named in the error.
    :raises InvalidInput: when there is no terminal to ask on, or input ends before a line.
    """
    with warnings.catch_warnings():
        # getpass warns (GetPassWarning) just before it would read the secret from stdin with echo.
        warnings.simplefilter("error", getpass.GetPassWarning)
        try:
            return getpass.getpass(prompt)
        except (getpass.GetPassWarning, EOFError):
            raise InvalidInput(T(
                "cannot ask for the {what}: there is no terminal (standard input is closed or not a "
                "terminal); give the {what} as one line on standard input with {option}. Nothing was changed",
                what=what, option=option,
            )) from None


def read_secret_line(what: str) -> str:
    """The first line of standard input without its line ending (``what`` names it in errors).

    :raises InvalidInput: when standard input is closed or empty.
    """
    line = sys.stdin.readline() if sys.stdin is not None else ""
    secret = line[:-1] if line.endswith("\n") else line
    secret = secret[:-1] if secret.endswith("\r") else secret
    if not secret:
        raise InvalidInput(T("no {what} on standard input (one line expected). Nothing was changed", what=what))
    return secret
