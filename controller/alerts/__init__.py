"""Alarms and events that leave the room (issue 14; docs/alerts.md).

The daemon queues each message in the store's outbox in the transaction that seals its event; one delivery
worker per destination reads the outbox in order and hands batches to a *sink* (MQTT, webhook, e-mail). A sink
either delivers the whole batch or raises :class:`DeliveryError`; the worker then retries with backoff. Sinks
never touch the database and never see a name: messages carry codes only.
"""

from controller.alerts.message import DeliveryError, Message, Sink

__all__ = ["DeliveryError", "Message", "Sink"]
