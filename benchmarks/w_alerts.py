"""W12: the door decision while an alert destination hangs (issue 14: "a door decision's latency does not change
while a destination hangs").

The same W1 hits (``keypad_attempt``) in rounds that alternate two daemons on the same data set: one with no
alert destination, one whose webhook destination (``outbox.events = "all"``, so every decision is queued for
it) points at a TCP server that accepts each connection and never answers: its delivery worker sits in the
TLS handshake until ``webhook.timeout_seconds``, backs off and tries again, for the whole run. Reported:
``hit.key_to_relay`` for both, and the ratio of the medians (1.0 = no change).
"""

from __future__ import annotations

import os
import random
import socket
import statistics
import threading
from pathlib import Path
from typing import Any

from benchmarks.harness import BenchDaemon
from benchmarks.seed import load_info
from benchmarks.w_daemon import keypad_attempt

#: Rounds of (no destination, hanging destination).
ROUNDS = 2


class HangingServer:
    """Accepts TCP connections on loopback and never sends a byte (a receiver that hangs)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def _hits(root: Path, attempts: int, rng: random.Random, changes: dict[str, dict[str, Any]] | None) -> list[float]:
    info = load_info(root)
    codes = list(info["pins"])
    bd = BenchDaemon(root, changes)
    bd.start()
    try:
        keypad_attempt(bd, info["pins"][codes[0]], True)  # warm-up
        return [keypad_attempt(bd, info["pins"][rng.choice(codes)], True)["key_to_relay"] for _ in range(attempts)]
    finally:
        bd.stop()


def w12_hanging_destination(root: Path, runs: int, seed_value: int) -> dict[str, Any]:
    rng = random.Random(seed_value)
    server = HangingServer()
    secret = Path(root) / "secrets" / "bench-webhook.key"
    secret.write_text("bench-secret\n")
    os.chmod(secret, 0o600)
    hanging = {"outbox": {"events": "all", "retry_max_seconds": 1},
               "webhook": {"enabled": True, "url": f"https://127.0.0.1:{server.port}/hook",
                           "secret_file": str(secret), "timeout_seconds": 5.0}}
    plain: list[float] = []
    hung: list[float] = []
    try:
        per_round = max(2, runs // ROUNDS)
        for _ in range(ROUNDS):
            plain += _hits(root, per_round, rng, None)
            hung += _hits(root, per_round, rng, hanging)
    finally:
        server.close()
        secret.unlink(missing_ok=True)
    return {"records": [{
        "workload": "W12", "primary": "hanging.key_to_relay",
        "metrics": {"plain.key_to_relay": {"unit": "ms", "samples": plain},
                    "hanging.key_to_relay": {"unit": "ms", "samples": hung}},
        "values": {"median_ratio_hanging_over_plain": round(statistics.median(hung) / statistics.median(plain), 3),
                   "connections_held": len(server.held), "rounds": ROUNDS},
    }]}
