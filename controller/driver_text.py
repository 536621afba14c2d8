"""A driver error told to a person, in their language: :func:`describe`.

The drivers never import the controller (an import-linter contract), so their errors
(:mod:`drivers.errors`) carry one line of English detail. Where such an error reaches a person
(the CLI's one-line errors, the daemon's answer to an enrolment), :func:`describe` gives the
translatable sentence of its class, with the driver's English detail as a value. An error the
controller raised itself with a :class:`~controller.i18n.Text` (``SensorUnavailable(T(...))``)
already is a sentence for a person: it is returned as it is.
"""

from __future__ import annotations

from collections.abc import Callable

from controller.i18n import T, Text
from drivers import errors as e
from drivers.fingerprint_owner import Cancelled

#: One sentence per driver error class, most specific first (the first ``isinstance`` match wins).
#: The enrolment refusals are complete sentences: their English detail only repeats them.
SENTENCES: tuple[tuple[type[e.DriverError], Callable[[str], Text]], ...] = (
    (e.DuplicateFinger, lambda detail: T("this finger is already enrolled")),
    (e.EnrollMismatch, lambda detail: T("the two touches did not match; try again with the same finger")),
    (e.EnrollTimeout, lambda detail: T("no finger was placed in time")),
    (e.PoorImage, lambda detail: T("the image was unusable; clean the sensor and try again")),
    (Cancelled, lambda detail: T("the enrolment was cancelled")),
    (e.LibraryFull, lambda detail: T("the fingerprint sensor's template library is full ({detail})",
                                     detail=detail)),
    (e.SlotInvalid, lambda detail: T("the fingerprint sensor slot is out of range or holds no readable template "
                                     "({detail})", detail=detail)),
    (e.FlashError, lambda detail: T("the fingerprint sensor could not write its memory ({detail})", detail=detail)),
    (e.SensorAuthError, lambda detail: T("the fingerprint sensor refused the configured password ({detail})",
                                         detail=detail)),
    (e.SensorProtocolError, lambda detail: T("the fingerprint sensor sent a garbled reply ({detail})",
                                             detail=detail)),
    (e.SensorUnavailable, lambda detail: T("the fingerprint sensor does not answer ({detail})", detail=detail)),
    (e.SensorError, lambda detail: T("sensor error: {detail}", detail=detail)),
    (e.GpioUnavailable, lambda detail: T("the GPIO pins cannot be used ({detail})", detail=detail)),
    (e.DriverError, lambda detail: T("hardware error: {detail}", detail=detail)),
)


def describe(exc: e.DriverError) -> Text:
    """The sentence for a person about driver error ``exc`` (translated when shown)."""
    message = exc.args[0] if len(exc.args) == 1 else None
    if isinstance(message, Text):
        return message
    detail = str(exc) or type(exc).__name__
    for kind, sentence in SENTENCES:
        if isinstance(exc, kind):
            return sentence(detail)
    return T("hardware error: {detail}", detail=detail)  # pragma: no cover - DriverError is last above
