"""Who a control-socket command acts as (issue 10 item 3).

Every command is recorded under an actor. The kernel tells the daemon which local account
connected (``SO_PEERCRED``, :class:`controller.control.server.Peer`); a client cannot choose it:

* the admin web's account (the owner of ``DATA/web/``) may name a staff login as the actor, and
  only together with the token hash of a web session that is live for that login in the web's
  own database (:func:`controller.store.web_store.session_is_live`), or for the web's login events
  (``event.record`` of ``admin.login``/``admin.login_failed``, which happen before a session
  exists; the actor is then the username that was tried);
* every other client acts as its own account: ``cli:<account>`` (``cli:root``, ``cli:kunci``),
  whatever it names. Staff usernames cannot contain ``:``, so the two never collide.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from controller.control.server import Peer
from controller.core.vocabulary import PRE_SESSION_EVENTS
from controller.errors import InvalidInput, PolicyRefused
from controller.i18n import T
from controller.paths import DataDir

log = logging.getLogger(__name__)

_TOKEN_HASH = re.compile(r"[0-9a-f]{64}")


def web_uid(datadir: DataDir) -> int | None:
    """The uid that owns ``DATA/web/`` (the admin web's account), or None when there is none."""
    try:
        return datadir.web_dir.stat().st_uid
    except OSError:
        return None


def local_actor(peer: Peer) -> str:
    """The actor name of a local client acting as itself."""
    return f"cli:{peer.account}"


def resolve(peer: Peer, request: dict[str, Any], datadir: DataDir, now: datetime) -> str:
    """The actor to record for ``request`` sent by ``peer``.

    A request from the web's account naming a staff ``actor`` together with ``web_session`` (hex
    SHA-256 of the session token) acts as that login if the session is live for it, else it is
    refused with :class:`PolicyRefused`. Without ``web_session``, and from any other account,
    a named actor is ignored: the command acts as ``cli:<account>``.
    """
    named = request.get("actor")
    if named is None or peer.uid != web_uid(datadir):
        return local_actor(peer)
    from controller.store.staff import validate_username

    try:
        username = validate_username(named)
    except InvalidInput:
        raise PolicyRefused(T("the web named an invalid staff login")) from None
    if request.get("cmd") == "admin" and request.get("op") == "event.record":
        params = request.get("params") or {}
        if isinstance(params, dict) and params.get("type") in PRE_SESSION_EVENTS:
            return username
    token = request.get("web_session")
    if token is None:
        return local_actor(peer)  # the web's account acting as itself (e.g. its maintenance CLI)
    if not isinstance(token, str) or not _TOKEN_HASH.fullmatch(token):
        raise PolicyRefused(T("a staff login acts only inside a web session the web has verified"))
    from controller.store import web_store

    if not web_store.session_is_live(datadir, username, bytes.fromhex(token), now):
        log.warning("refused a command naming %s without a live web session", username)
        raise PolicyRefused(T("that web session is not live; log in again"))
    return username
