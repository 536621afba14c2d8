"""Heads collected off the device (``kunci audit verify --anchor-from FILE``), over plain values and SQL text
like :mod:`controller.store.chain_check` (no SQLAlchemy).

Every published message carries the log's head (controller/alerts/message.py); an auditor collects them from
MQTT, webhook bodies, e-mails or by hand into one file. Every head in it must be in the log (or an archive) with
its MAC: one published after the log's end proves a truncation, one with another MAC a rewrite. The formats are
documented in docs/alerts.md "The log's head off the device".
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.errors import InvalidInput
from controller.i18n import T
from controller.store.chain_check import GENESIS_MAC, Reader, stored_head

#: The line an alarm e-mail carries (docs/alerts.md); the e-mail sink writes it with these words.
MAIL_HEAD_LINE = "Log head: seq={seq} mac={mac}"
#: Seqs per ``WHERE seq IN (...)`` lookup (below SQLite's smallest variable limit, 999).
LOOKUP_BATCH = 500

#: ``Log head: seq=N mac=HEX``; also ``log head: seq N, mac HEX`` as controller/alerts/email.py writes it now.
_MAIL = re.compile(r"^log head:\s*seq(?:=|\s+)(\S+?),?\s+mac(?:=|\s+)(\S+)$", re.IGNORECASE)
_KEPT_LINE = re.compile(r"^(?:head\s+)?seq=(\S+)\s+mac=(\S+?)(?:\s+time=\S+)?$")  # anchor file, `audit head`
_SEQ_MAC = re.compile(r"^(-?\d+):(\S+)$")
#: A CSV export's header row: the columns, then one whose name is the anchor (controller.store.eventlog.ExportHead).
_CSV_HEADER = re.compile(r'^seq,time,[^"]*,"?kunci anchor seq=(\S+) mac=([^;\s",]+)')
#: The comment line that started CSV exports made before that header (still read).
_CSV_EXPORT = re.compile(r'^"?# kunci events export; anchor seq=(\S+) mac=([^;\s"]+)')
_TOPIC_LINE = re.compile(r"^([^\s{\"=:]*/\S*)\s+(.+)$")  # mosquitto_sub -v: ``topic payload``


@dataclass(frozen=True)
class PublishedHead:
    """A head ``(seq, mac_hex)`` collected off the device, and the line of the file it came from."""

    seq: int
    mac: str
    line: int


@dataclass(frozen=True)
class CollectedHeads:
    """The heads of one file, in file order, and how many lines were messages without a head."""

    source: str
    heads: tuple[PublishedHead, ...]
    skipped: int


def _head(seq: Any, mac: Any, where: str, number: int) -> PublishedHead:
    """Validate one head; InvalidInput naming ``where`` (file and line) if the seq or the MAC is bad."""
    if isinstance(seq, str) and re.fullmatch(r"-?\d+", seq.strip()):
        seq = int(seq)
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise InvalidInput(T("{source} line {line}: the head's seq must be a whole number, not {value}",
                             source=where, line=number, value=repr(seq)))
    if seq < 0:
        raise InvalidInput(T("{source} line {line}: the head's seq must not be negative ({seq})",
                             source=where, line=number, seq=seq))
    text = mac.strip().lower() if isinstance(mac, str) else ""
    if len(text) != 2 * len(GENESIS_MAC) or not re.fullmatch(r"[0-9a-f]+", text):
        raise InvalidInput(T("{source} line {line}: the head's mac must be {length} hexadecimal characters, "
                             "not {value}", source=where, line=number, length=2 * len(GENESIS_MAC), value=repr(mac)))
    return PublishedHead(seq, text, number)


def _from_object(obj: Any, where: str, number: int) -> PublishedHead | None:
    """A head from one JSON value: a published message (``head``), a bare ``{seq, mac}`` or an export's
    ``anchor``; ``None`` for an object that carries none (a state or availability message, a message
    queued before the first event has ``"head": null``)."""
    if not isinstance(obj, dict):
        raise InvalidInput(T("{source} line {line}: JSON that is not an object holds no head", source=where,
                             line=number))
    for key in ("head", "anchor"):
        if key in obj:
            inner = obj[key]
            if inner is None:
                return None
            if not isinstance(inner, dict):
                raise InvalidInput(T("{source} line {line}: \"{key}\" must be an object {example}", source=where,
                                     line=number, key=key, example='{"seq": N, "mac": "HEX"}'))
            return _head(inner.get("seq"), inner.get("mac"), where, number)
    if "mac" in obj:
        return _head(obj.get("seq"), obj["mac"], where, number)
    if "seq" in obj and "kind" not in obj and "type" not in obj:
        raise InvalidInput(T("{source} line {line}: a seq without its mac is no head", source=where, line=number))
    return None


def _json_line(text: str, where: str, number: int) -> PublishedHead | None:
    try:
        obj = json.loads(text)
    except ValueError:
        raise InvalidInput(T("{source} line {line}: not valid JSON", source=where, line=number)) from None
    return _from_object(obj, where, number)


def _parse_line(text: str, where: str, number: int) -> tuple[PublishedHead | None, bool]:
    """``(head, skipped)`` for one non-blank, non-comment line; InvalidInput if it is none of the formats."""
    if text.startswith("{"):
        head = _json_line(text, where, number)
        return head, head is None
    for pattern in (_MAIL, _KEPT_LINE, _SEQ_MAC):
        match = pattern.match(text)
        if match:
            return _head(match.group(1), match.group(2), where, number), False
    topic = _TOPIC_LINE.match(text)
    if topic:
        name, payload = topic.groups()
        if payload.startswith("{"):
            head = _json_line(payload, where, number)
            return head, head is None
        if name.endswith("/availability"):  # the last will's plain "online"/"offline"
            return None, True
    if _TOPIC_LINE.match(text + " -") and " " not in text:  # an empty retained message (a removed config)
        return None, True
    raise InvalidInput(T("{source} line {line}: holds no anchor head: {text} (expected a published message, "
                         "{example}, a mosquitto_sub -v line, 'Log head: seq=N mac=HEX', an anchor-file line "
                         "or SEQ:MAC)",
                         source=where, line=number, text=repr(text[:60]), example='{"seq": N, "mac": "HEX"}'))


def parse_collected(text: str, source: str) -> CollectedHeads:
    """Every head in ``text`` (the file ``source``, named in errors), for ``audit verify --anchor-from``.

    One head per line, in any of: a published message (JSON with ``"head": {"seq": N, "mac": "HEX"}``,
    as a webhook receives it), a JSON ``{"seq": N, "mac": "HEX"}``, a ``mosquitto_sub -v`` line (``topic
    {json}``), an e-mail's ``Log head: seq=N mac=HEX``, an anchor-file line ``seq=N mac=HEX time=T``,
    ``kunci audit head``'s ``head seq=N mac=HEX`` or ``SEQ:MAC``. Blank lines and ``#`` comments are
    skipped; so are messages without a head (counted in ``skipped``): a JSON object with neither ``head``
    nor ``mac``, or ``"head": null``, an ``.../availability`` line, a topic with an empty payload. A file
    whose first line is an events export's header (CSV: the header row whose last column names the anchor, or
    the ``# kunci events export`` comment line of older exports; JSON: the ``anchor`` line) gives that export's
    anchor only.

    Raises :class:`~controller.errors.InvalidInput` naming the file and line for any other line, a
    negative seq or a MAC that is not 64 hexadecimal characters, and if the file holds no head at all.
    """
    heads: list[PublishedHead] = []
    skipped = 0
    first = True
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        where = source  # messages name it with the line number
        if first:
            first = False
            export = _CSV_HEADER.match(line) or _CSV_EXPORT.match(line)
            if export:
                return CollectedHeads(source, (_head(export.group(1), export.group(2), where, number),), 0)
            if line.startswith("{") and '"anchor"' in line:
                head = _json_line(line, where, number)
                return CollectedHeads(source, (head,) if head else (), 0)
        if line.startswith("#"):
            continue
        head, skip = _parse_line(line, where, number)
        if head is not None:
            heads.append(head)
        skipped += skip
    if not heads:
        raise InvalidInput(T("{source} holds no anchor head ({skipped} messages without one)", source=source,
                             skipped=skipped))
    return CollectedHeads(source, tuple(heads), skipped)


@dataclass(frozen=True)
class HeadsCheck:
    """:func:`check_heads`: distinct heads compared, the newest seq among them, and the problems found."""

    checked: int
    newest: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def stored_macs(reader: Reader, seqs: Iterable[int]) -> dict[int, bytes]:
    """``{seq: mac}`` of the sealed events among ``seqs``, :data:`LOOKUP_BATCH` seqs per query."""
    wanted = sorted(set(seqs))
    found: dict[int, bytes] = {}
    for k in range(0, len(wanted), LOOKUP_BATCH):
        chunk = wanted[k:k + LOOKUP_BATCH]
        names = ", ".join(f":s{i}" for i in range(len(chunk)))
        rows = reader.all(f"SELECT seq, mac FROM events WHERE seq IN ({names})",
                          {f"s{i}": seq for i, seq in enumerate(chunk)})
        found.update((int(seq), bytes(mac)) for seq, mac in rows if mac is not None)
    return found


def check_heads(reader: Reader, heads: Iterable[PublishedHead],
                archived: Callable[[set[int]], Mapping[int, bytes]] | None = None) -> HeadsCheck:
    """Compare heads published off the device with the log read through ``reader`` (run after the chain
    verified, so the stored MACs are the chain's). Read-only.

    Each head's seq must be stored with that MAC (constant-time compare). A head beyond the stored end
    proves a truncation; another MAC a rewrite. ``archived`` returns the MACs of seqs older than the live
    log from the verified archives (``None``: there are none). Equal heads count once.
    """
    wanted: dict[int, set[str]] = {}
    for head in heads:
        wanted.setdefault(head.seq, set()).add(head.mac)
    stored = stored_head(reader)
    end = stored[0] if stored is not None else 0
    problems = []
    beyond = [seq for seq in wanted if seq > end]
    if beyond:
        problems.append(f"truncated: the log ends at seq {end} but a head published at seq {max(beyond)} exists")
    present = stored_macs(reader, (seq for seq in wanted if 0 < seq <= end))
    present[0] = GENESIS_MAC
    missing = {seq for seq in wanted if seq <= end and seq not in present}
    if missing and archived is not None:
        present.update(archived(missing))
        missing -= present.keys()
    differ = sorted(seq for seq, macs in wanted.items() if seq in present
                    and not all(hmac.compare_digest(bytes.fromhex(mac), present[seq]) for mac in macs))
    if differ:
        more = f" ({len(differ)} published heads differ, seq {differ[0]}..{differ[-1]})" if len(differ) > 1 else ""
        problems.append(f"rewritten: event seq {differ[0]} differs from the head published for it{more}")
    if missing:
        problems.append(f"missing: event seq {min(missing)} was published off the device but is neither in "
                        "the log nor in an archive")
    return HeadsCheck(sum(map(len, wanted.values())), max(wanted, default=0), tuple(problems))
