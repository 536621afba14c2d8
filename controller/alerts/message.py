"""The one message shape every destination receives, and the sink interface (docs/alerts.md "Payloads")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self


class DeliveryError(Exception):
    """A destination did not take a batch (down, refused, timed out); the worker retries it later, in order."""


@dataclass(frozen=True, slots=True)
class Message:
    """One outbox entry.

    ``id`` is the outbox's own increasing number (delivery order). ``seq`` is the sealed event's sequence
    number: receivers use it as the idempotency key (a message may arrive more than once, never out of
    order). ``kind`` is ``alarm`` (raised or cleared), ``event`` (a sealed event), ``state`` (the door's
    state, retained), ``heartbeat`` (the log's head) or ``test`` (``kunci alert test``). ``type`` is the
    event type (``door.forced``, ``alarm.raised``, ...). ``time`` is ISO 8601 UTC. ``head`` is the log's
    head ``(seq, mac hex)`` when the message was queued, so that anyone holding a message can prove later
    that the log was not truncated after it. ``body`` holds the rest: codes only (person codes, reason
    codes, door name), never a name or a PIN.
    """

    id: int
    kind: str
    type: str
    time: str
    door: str
    seq: int | None = None
    head: tuple[int, str] | None = None
    body: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON payload every destination sends (keys in a fixed order)."""
        return {"id": self.id, "kind": self.kind, "type": self.type, "time": self.time, "door": self.door,
                "seq": self.seq, "head": None if self.head is None else {"seq": self.head[0], "mac": self.head[1]},
                **({"body": self.body} if self.body else {})}


class Sink(Protocol):
    """A destination. ``send`` delivers every message of the batch, in order, or raises DeliveryError."""

    name: str

    def send(self, batch: Sequence[Message]) -> None: ...

    def close(self) -> None: ...


class ConnectionlessSink:
    """``close()`` and the context manager of a sink that keeps no connection between sends (webhook, e-mail):
    closing only makes later sends refuse. Safe to call more than once."""

    _closed = False

    def close(self) -> None:
        """Refuse further sends; safe to call more than once."""
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
