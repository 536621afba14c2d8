"""Workloads on the running door daemon: W1 (+W4), W2, W8, W9. See docs/performance.md for definitions.

Each function starts a :class:`benchmarks.harness.BenchDaemon` on the seeded data directory, drives
inputs, and returns ``{"records": [...]}`` where each record is ``{"workload", "metrics": {name:
{"unit", "samples"}}, "values": {...}}``; the runner turns samples into percentiles.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import BenchDaemon, wait_for_state
from benchmarks.seed import load_info
from benchmarks.stats import rss_mb
from controller.store import pins
from drivers import events as ev

#: Seconds to wait for any single output before calling the attempt failed.
TIMEOUT_S = 5.0
GRANTED = "access.granted"
DENIED = "access.denied"
ACCESS = (GRANTED, DENIED)


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def miss_pins(info: dict[str, Any], count: int, rng: random.Random) -> list[str]:
    """``count`` well-formed PINs that belong to nobody (production generator, seeded)."""
    taken = set(info["pins"].values())
    out: list[str] = []
    while len(out) < count:
        pin = pins.generate_pin(info["pin_length"], rng)
        if pin not in taken:
            out.append(pin)
    return out


def _settle(bd: BenchDaemon) -> None:
    """Let the keypad debouncer see the matrix empty for long enough before the next key."""
    kp = bd.config.keypad
    time.sleep((kp.debounce_scans + 2) * kp.scan_interval_ms / 1000.0)


def keypad_attempt(bd: BenchDaemon, pin: str, expect_grant: bool) -> dict[str, float]:
    """Digits injected as ``KeyPressed``; ``#`` pressed on the keypad model. Returns timings in ms.

    ``edge``: first falling edge of the ``#`` column pin after the switch closed (the GPIO edge the
    scanner reads); ``key``: the debounced ``KeyPressed('#').t`` (scanner clock); ``relay``: relay pin
    energised; ``commit``: the access event's ``Journal.write`` (commit included) returned.
    """
    energised = bd.config.gpio.relay_active_high
    bd.inject_keys(pin)
    bd.idle()
    time.sleep(0.002)
    t_press = time.monotonic()
    bd.keypad.press("#")
    got = bd.sink.wait(lambda e: isinstance(e, ev.KeyPressed) and e.key == "#", t_press, TIMEOUT_S)
    bd.keypad.release("#")
    if got is None:
        raise RuntimeError("the keypad never reported '#'")
    key_t = got[1].t
    edge_t = wait_for_state(bd.column_pins["#"], False, t_press, TIMEOUT_S)
    commit = bd.wait_commit(ACCESS, t_press, TIMEOUT_S)
    if commit is None or edge_t is None:
        raise RuntimeError("no access event was committed")
    out = {"press_to_edge": _ms(edge_t - t_press), "edge_to_key": _ms(key_t - edge_t),
           "key_to_commit": _ms(commit.t - key_t), "edge_to_commit": _ms(commit.t - edge_t)}
    if expect_grant:
        if commit.type != GRANTED:
            raise RuntimeError(f"expected a grant, got {commit.type} ({commit.reason})")
        relay_t = wait_for_state(bd.relay_pin, energised, t_press, TIMEOUT_S)
        if relay_t is None:
            raise RuntimeError("relay was not energised after a grant")
        out.update(key_to_relay=_ms(relay_t - key_t), edge_to_relay=_ms(relay_t - edge_t),
                   commit_to_relay=_ms(relay_t - commit.t))
        if not bd.relock():
            raise RuntimeError("relay did not drop after the door closed")
    elif commit.type != DENIED:
        raise RuntimeError(f"expected a denial, got {commit.type}")
    _settle(bd)
    return out


def w1_pin_decision(root: Path, runs: int, seed_value: int) -> dict[str, Any]:
    """W1 PIN decision latency (hits: first, last, random person; misses) and W4 RSS of the same process."""
    info = load_info(root)
    rng = random.Random(seed_value)
    codes = list(info["pins"])
    before = rss_mb()
    bd = BenchDaemon(root)
    ready_s = bd.start()
    after_start = rss_mb()
    samples: dict[str, list[float]] = {}

    def add(prefix: str, timings: dict[str, float]) -> None:
        for name, value in timings.items():
            samples.setdefault(f"{prefix}.{name}", []).append(value)

    try:
        keypad_attempt(bd, info["pins"][codes[0]], True)  # warm-up (first query plans, first blink thread)
        misses = miss_pins(info, runs, rng)
        plan: list[tuple[str, str]] = []
        for i in range(runs):
            plan += [("first", codes[0]), ("last", codes[-1]), ("random", rng.choice(codes)), ("miss", misses[i])]
        rng.shuffle(plan)
        for kind, what in plan:
            if kind == "miss":
                add("miss", keypad_attempt(bd, what, False))
            else:
                timings = keypad_attempt(bd, info["pins"][what], True)
                add("hit", timings)
                add(f"hit_{kind}", {"key_to_relay": timings["key_to_relay"]})
        after_w1 = rss_mb()
    finally:
        bd.stop()
    metrics = {name: {"unit": "ms", "samples": vals} for name, vals in samples.items()}
    return {"records": [
        {"workload": "W1", "primary": "hit.key_to_relay", "metrics": metrics,
         "values": {"daemon_ready_s": round(ready_s, 3), "attempts": len(plan),
                    "debounce_fixed_ms": bd.config.keypad.debounce_scans * bd.config.keypad.scan_interval_ms}},
        {"workload": "W4", "primary": "rss_after_w1",
         "metrics": {"rss_after_start": {"unit": "MB", "samples": [after_start["rss"]]},
                     "rss_after_w1": {"unit": "MB", "samples": [after_w1["rss"]]},
                     "hwm_after_w1": {"unit": "MB", "samples": [after_w1["hwm"]]}},
         "values": {"rss_before_daemon_mb": round(before["rss"], 1),
                    "note": "in-process daemon + thin harness; W7 reports a bare `kunci run` process"}},
    ]}


#: W2: attempts the harness keeps queued ahead of the loop. Enough to keep the loop busy all the time
#: (a throughput figure), few enough that a key waits far less than the keypad's inter-digit timeout
#: (5 s): keys are stamped when injected, and a backlog older than that would expire partial entries.
W2_WINDOW = 20
#: W2: seconds one burst may take before the workload reports what completed and moves on.
W2_BURST_DEADLINE_S = 60.0


class _AccessCommits:
    """Counts the daemon's ``access.*`` commits (incrementally) and remembers the newest one's time."""

    def __init__(self, bd: BenchDaemon) -> None:
        self.bd = bd
        self.seen = 0
        self.count = 0
        self.last_t = 0.0

    def update(self) -> int:
        commits = self.bd.commits
        while self.seen < len(commits):
            c = commits[self.seen]
            self.seen += 1
            if c.type in ACCESS:
                self.count += 1
                self.last_t = c.t
        return self.count


def _burst_plan(info: dict[str, Any], rng: random.Random, attempts: int,
                mix: dict[str, int]) -> list[tuple[str, int]]:
    """``attempts`` mixed entries ``(keys, decisions it makes)``: 55 % hits, 35 % misses, 5 % corrected, 5 % empty."""
    codes = list(info["pins"])
    misses = iter(miss_pins(info, attempts, rng))
    plan: list[tuple[str, int]] = []
    for _ in range(attempts):
        r = rng.random()
        pin = info["pins"][rng.choice(codes)]
        if r < 0.55:
            plan.append((pin + "#", 1)); mix["hit"] += 1
        elif r < 0.90:
            plan.append((next(misses) + "#", 1)); mix["miss"] += 1
        elif r < 0.95:
            plan.append(("9" + pin[:2] + "*" + pin + "#", 1)); mix["corrected_hit"] += 1
        else:
            plan.append(("#", 0)); mix["empty"] += 1
    return plan


def w2_burst(root: Path, runs: int, seed_value: int, attempts: int = 200, *, prefix: str = "",
             workload: str = "W2") -> dict[str, Any]:
    """W2: ``runs`` bursts of ``attempts`` mixed attempts; throughput and per-decision time.

    The harness keeps :data:`W2_WINDOW` attempts queued ahead of the loop (the loop never waits for
    input) and stamps keys when it injects them. A burst that has not finished after
    :data:`W2_BURST_DEADLINE_S` is reported as it stands: the decisions that completed and their
    rate (``values.completed``, ``values.unfinished_bursts``), never an error. ``prefix`` is put in
    front of every metric name (``"loaded."`` for :func:`w2_burst_loaded`).
    """
    info = load_info(root)
    rng = random.Random(seed_value)
    bd = BenchDaemon(root)
    bd.start()
    access = bd.daemon.access
    decision_s: list[float] = []
    original_pin = getattr(access, "pin", None)
    if original_pin is not None:
        def timed_pin(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original_pin(*args, **kwargs)
            finally:
                decision_s.append(time.perf_counter() - t0)

        access.pin = timed_pin  # type: ignore[method-assign]
    throughput: list[float] = []
    burst_ms: list[float] = []
    mix = {"hit": 0, "miss": 0, "corrected_hit": 0, "empty": 0}
    expected_total = completed_total = unfinished = 0
    counter = _AccessCommits(bd)
    try:
        for _ in range(runs):
            plan = _burst_plan(info, rng, attempts, mix)
            bd.relock()
            time.sleep(0.1)
            base = counter.update()
            start = time.monotonic()
            deadline = start + W2_BURST_DEADLINE_S
            injected = 0
            for keys, decides in plan:
                while counter.update() - base < injected - W2_WINDOW and time.monotonic() < deadline:
                    time.sleep(0.001)
                if time.monotonic() >= deadline:
                    break
                bd.inject_keys(keys)
                injected += decides
            expected = sum(d for _, d in plan)
            while counter.update() - base < injected and time.monotonic() < deadline:
                time.sleep(0.002)
            done = counter.update() - base
            expected_total += expected
            completed_total += done
            if done < expected:
                unfinished += 1
            if done:
                elapsed = max(counter.last_t - start, 1e-9)
                burst_ms.append(_ms(elapsed))
                throughput.append(done / elapsed)
    finally:
        bd.stop()
    return {"records": [{
        "workload": "W2", "primary": f"{prefix}decision",
        "metrics": {f"{prefix}decision": {"unit": "ms", "samples": [_ms(s) for s in decision_s]},
                    f"{prefix}throughput": {"unit": "attempts/s", "samples": throughput},
                    f"{prefix}burst": {"unit": "ms", "samples": burst_ms}},
        "values": {f"{prefix}attempts_per_burst": attempts, f"{prefix}mix": mix,
                   f"{prefix}decisions_expected": expected_total, f"{prefix}decisions_completed": completed_total,
                   **({f"{prefix}unfinished_bursts": unfinished} if unfinished else {}),
                   "window_attempts": W2_WINDOW, "lockout_after_failures": bd.config.pin.lockout_after_failures},
    }]}


def w2_burst_loaded(root: Path, runs: int, seed_value: int) -> dict[str, Any]:
    """W2 with every core kept busy by another process (:func:`benchmarks.load.spinning`): ``loaded.*``."""
    from benchmarks.load import spinning

    with spinning() as pids:
        result = w2_burst(root, runs, seed_value, prefix="loaded.")
    result["records"][0]["values"]["loaded.spinners"] = len(pids)
    return result


def _inject_pin(bd: BenchDaemon, pin: str) -> float:
    """Type ``pin`` + ``#`` straight into the queue; returns the ``#`` event's time."""
    bd.inject_keys(pin)
    t = time.monotonic()
    bd.inject(ev.KeyPressed(key="#", t=t))
    return t


def w8_lockout(root: Path, runs: int, seed_value: int) -> dict[str, Any]:
    """W8: wrong PINs until lockout; the right PIN refused while locked out and accepted afterwards."""
    info = load_info(root)
    rng = random.Random(seed_value)
    code = rng.choice(list(info["pins"]))
    right = info["pins"][code]
    changes = {"pin": {"lockout_after_failures": 3, "lockout_base_seconds": 1.0, "lockout_max_seconds": 1.0}}
    bd = BenchDaemon(root, changes)
    bd.start()
    energised = bd.config.gpio.relay_active_high
    checks: list[dict[str, Any]] = []
    samples: dict[str, list[float]] = {"wrong_decision": [], "locked_refusal": [], "lockout_observed": [],
                                       "grant_after": []}
    try:
        for _ in range(runs):
            steps: dict[str, Any] = {}
            t = _inject_pin(bd, right)  # a success first: consecutive failures start from zero
            c = bd.wait_commit(ACCESS, t, TIMEOUT_S)
            steps["reset_granted"] = c is not None and c.type == GRANTED
            bd.relock()
            wrong = miss_pins(info, 3, rng)
            for i, pin in enumerate(wrong):
                t = _inject_pin(bd, pin)
                c = bd.wait_commit(ACCESS, t, TIMEOUT_S)
                steps[f"wrong_{i + 1}_denied"] = c is not None and c.type == DENIED and c.reason == "unknown_credential"
                if c is not None:
                    samples["wrong_decision"].append(_ms(c.t - t))
            started = bd.wait_commit(("lockout.started",), t, TIMEOUT_S)
            steps["lockout_started"] = started is not None
            t = _inject_pin(bd, right)
            c = bd.wait_commit(ACCESS, t, TIMEOUT_S)
            steps["right_refused_locked_out"] = c is not None and c.type == DENIED and c.reason == "locked_out"
            if c is not None:
                samples["locked_refusal"].append(_ms(c.t - t))
            ended = bd.wait_commit(("lockout.ended",), t, 10.0)
            steps["relay_stayed_off"] = wait_for_state(bd.relay_pin, energised, t, 0.0) is None
            steps["lockout_ended"] = ended is not None
            if started is not None and ended is not None:
                samples["lockout_observed"].append(_ms(ended.t - started.t))
            t = _inject_pin(bd, right)
            c = bd.wait_commit(ACCESS, t, TIMEOUT_S)
            steps["right_accepted_after"] = c is not None and c.type == GRANTED
            steps["relay_energised_after"] = wait_for_state(bd.relay_pin, energised, t, TIMEOUT_S) is not None
            if c is not None:
                samples["grant_after"].append(_ms(c.t - t))
            bd.relock()
            checks.append(steps)
    finally:
        bd.stop()
    passed = all(all(s.values()) for s in checks) and len(checks) == runs
    return {"records": [{
        "workload": "W8", "primary": "locked_refusal",
        "metrics": {name: {"unit": "ms", "samples": vals} for name, vals in samples.items()},
        "values": {"passed": passed, "checks": checks, "lockout_seconds": 1.0, "lockout_after_failures": 3},
    }]}


def w9_finger(root: Path, runs: int, seed_value: int) -> dict[str, Any]:
    """W9: finger placed on the simulated sensor -> FingerMatched -> relay energised."""
    from drivers.sim_sensor import GEN_IMG, OK

    info = load_info(root)
    rng = random.Random(seed_value)
    fingers = info["fingers"]
    bd = BenchDaemon(root)
    bd.start()
    energised = bd.config.gpio.relay_active_high
    sensor = bd.daemon.hw.sim.sensor
    poll_s = bd.config.sensor.poll_interval_ms / 1000.0
    samples: dict[str, list[float]] = {k: [] for k in (
        "matched_to_relay", "matched_to_commit", "place_to_matched", "sensor_protocol", "place_to_relay")}
    try:
        time.sleep(3 * poll_s)
        for _ in range(runs):
            finger = rng.choice(fingers)
            sensor.clear_log()
            t_place = time.monotonic()
            sensor.place_finger(finger["label"])
            got = bd.sink.wait(lambda e: isinstance(e, ev.FingerMatched), t_place, TIMEOUT_S)
            if got is None:
                raise RuntimeError("the sensor never reported a match")
            matched_t = got[1].t
            relay_t = wait_for_state(bd.relay_pin, energised, t_place, TIMEOUT_S)
            commit = bd.wait_commit(ACCESS, t_place, TIMEOUT_S)
            sensor.remove_finger()
            if relay_t is None or commit is None or commit.type != GRANTED:
                raise RuntimeError("finger match did not unlock")
            gen_ok = [c.t for c in sensor.commands if c.instruction == GEN_IMG and c.code == OK and c.t >= t_place]
            samples["matched_to_relay"].append(_ms(relay_t - matched_t))
            samples["matched_to_commit"].append(_ms(commit.t - matched_t))
            samples["place_to_matched"].append(_ms(matched_t - t_place))
            samples["place_to_relay"].append(_ms(relay_t - t_place))
            if gen_ok:
                samples["sensor_protocol"].append(_ms(matched_t - gen_ok[0]))
            bd.relock()
            time.sleep(2.5 * poll_s)  # the watcher must see the finger lifted before it reads again
    finally:
        bd.stop()
    return {"records": [{
        "workload": "W9", "primary": "matched_to_relay",
        "metrics": {name: {"unit": "ms", "samples": vals} for name, vals in samples.items()},
        "values": {"poll_interval_ms": bd.config.sensor.poll_interval_ms, "enrolled_fingers": len(fingers)},
    }]}
