"""Fingerprint enrolment from the web page: a background thread holds the daemon's progress stream.

The page POSTs to start an enrolment; :meth:`EnrolJobs.start` opens
``finger.enroll`` on the control socket in a thread of this (single) web process
and returns a random job id. The page then polls a small JSON endpoint that reads
:meth:`EnrolJobs.snapshot`. Each progress line from the daemon names a step of
:class:`controller.core.enrolment.EnrolStep` (the one list the daemon and the CLI use
too), shown with its text; the job ends with the sensor slot or a clear error. The
wait for each line follows ``sensor.enroll_step_timeout_seconds``. Finished jobs are forgotten after
:data:`KEEP_FINISHED_SECONDS`.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controller.control.client import ControlClient
from controller.core.enrolment import EnrolStep
from controller.errors import KunciError
from controller.i18n import T, Text

logger = logging.getLogger(__name__)

#: Finished jobs stay readable this long (seconds).
KEEP_FINISHED_SECONDS = 600.0
#: Most jobs kept at once (running and finished).
MAX_JOBS = 50

#: What the page says before the daemon's first step arrives.
STARTING_TEXT = T("Contacting the door controller...")

#: A job's message: a step (its text), a message translated when shown, or the daemon's own words.
Message = EnrolStep | Text | str


def plan() -> list[dict[str, str]]:
    """The steps in order, as the page lists them (``[{"step", "text"}]``), in the current language."""
    return [{"step": s.value, "text": s.text} for s in EnrolStep]


def _shown(message: Message | None, limit: int) -> str | None:
    """``message`` as text in the current language (the thread stored it untranslated), at most ``limit``."""
    if message is None:
        return None
    return (message.text if isinstance(message, EnrolStep) else str(message))[:limit]


@dataclass
class EnrolJob:
    """State of one enrolment; read through :meth:`EnrolJobs.snapshot`."""

    id: str
    user_code: str
    actor: str
    web_session: str = ""
    door: str = ""  # the door whose sensor enrols ('' = the first door)
    step: str = "starting"
    message: Message = STARTING_TEXT
    steps: list[str] = field(default_factory=list)
    done: bool = False
    ok: bool = False
    slot: int | None = None
    error: Text | str | None = None
    finished_at: float | None = None


class EnrolJobs:
    """The running and recently finished enrolments of this web process.

    :param client_factory: returns a :class:`ControlClient` for a given line timeout (seconds).
    :param line_wait_seconds: how long to wait for each line from the daemon
        (:func:`controller.core.enrolment.progress_wait_seconds` of the sensor settings).
    :param clock: monotonic clock (seconds), injectable for tests.
    """

    def __init__(
        self, client_factory: Callable[[float], ControlClient], line_wait_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client_factory = client_factory
        self._line_wait_seconds = line_wait_seconds
        self._clock = clock
        self._jobs: dict[str, EnrolJob] = {}
        self._lock = threading.Lock()

    def _prune(self) -> None:
        now = self._clock()
        for job_id in [
            j.id for j in self._jobs.values() if j.done and j.finished_at is not None and now - j.finished_at > KEEP_FINISHED_SECONDS
        ]:
            del self._jobs[job_id]

    def running_for(self, user_code: str) -> str | None:
        """The id of a running enrolment for ``user_code``, if any."""
        with self._lock:
            for job in self._jobs.values():
                if job.user_code == user_code and not job.done:
                    return job.id
        return None

    def start(self, user_code: str, actor: str, web_session: str = "", door: str = "") -> str:
        """Start enrolling a finger for ``user_code`` on behalf of staff member ``actor``; return the job id.

        ``web_session`` (hex SHA-256 of the session token) lets the daemon check that the web
        verified ``actor`` (:func:`controller.store.web_store.session_is_live`).

        ``door``: the door whose fingerprint sensor enrols (a controller with several doors; '' = the first).
        A second start for the same person while one runs returns the running job's id.
        Raises :class:`KunciError` when too many enrolments are in progress.
        """
        with self._lock:
            self._prune()
            for job in self._jobs.values():
                if job.user_code == user_code and not job.done:
                    return job.id
            if len(self._jobs) >= MAX_JOBS:
                raise KunciError(T("too many enrolments at once; wait a minute and try again"))
            job = EnrolJob(id=secrets.token_urlsafe(16), user_code=user_code, actor=actor, web_session=web_session,
                           door=door)
            self._jobs[job.id] = job
        thread = threading.Thread(target=self._run, args=(job,), name="kunci-enrol", daemon=True)
        thread.start()
        return job.id

    def _progress(self, job: EnrolJob, line: dict[str, Any]) -> None:
        step = str(line.get("progress") or "")
        with self._lock:
            job.step = step
            job.steps.append(step)
            try:
                job.message = EnrolStep(step)
            except ValueError:  # a step this page does not know: the daemon's own words
                job.message = str(line.get("message") or step)[:200]

    def _run(self, job: EnrolJob) -> None:
        client = self._client_factory(self._line_wait_seconds)
        try:
            result = client.stream(
                "finger.enroll", lambda line: self._progress(job, line), user=job.user_code, actor=job.actor,
                web_session=job.web_session, **({"door": job.door} if job.door else {}),
            )
        except KunciError as exc:
            with self._lock:
                message = exc.args[0] if len(exc.args) == 1 else None
                job.error = message if isinstance(message, Text) else str(exc) or T("the enrolment failed")
                job.step, job.message = "failed", job.error
            logger.info("finger enrolment failed: %s", exc.__class__.__name__)
        except Exception:  # the thread must always finish the job
            logger.exception("finger enrolment crashed")
            with self._lock:
                job.error = T("the enrolment failed unexpectedly; see the web server log")
                job.step, job.message = "failed", job.error
        else:
            with self._lock:
                job.ok = True
                slot = result.get("slot")
                job.slot = slot if isinstance(slot, int) else None
                job.step, job.message = "done", T("Fingerprint stored.")
        finally:
            with self._lock:
                job.done = True
                job.finished_at = self._clock()

    def snapshot(self, job_id: str) -> dict[str, Any] | None:
        """A JSON-ready copy of the job's state in the current language, or ``None`` for an unknown id."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            return {
                "user": job.user_code,
                "door": job.door,
                "step": job.step,
                "message": _shown(job.message, 300),
                "steps": list(job.steps),
                "done": job.done,
                "ok": job.ok,
                "slot": job.slot,
                "error": _shown(job.error, 300),
                "plan": plan(),
            }
