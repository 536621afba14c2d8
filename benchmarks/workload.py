"""``python -m benchmarks.workload NAME --data DIR [--runs R] [--seed S]``: one workload, one fresh process.

Prints one JSON object on stdout: ``{"records": [{"workload", "primary", "metrics": {name: {"unit",
"samples"}}, "values"}]}``. Logging goes to stderr. ``--profile FILE`` runs the workload under
cProfile and writes the top entries (cumulative time) to FILE.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Workload name -> "module:function"; every function takes (root, runs, seed) and returns a dict.
WORKLOADS: dict[str, str] = {
    "FLOOR": "benchmarks.floor:floor_workload",  # the disk's fsync and durable-commit time
    "W1": "benchmarks.w_daemon:w1_pin_decision",  # also reports W4 (RSS of the same daemon process)
    "W2": "benchmarks.w_daemon:w2_burst",
    "W2L": "benchmarks.w_daemon:w2_burst_loaded",  # W2 with every core kept busy by spinner processes
    "W3": "benchmarks.w_store:w3_add_person",
    "W5": "benchmarks.w_web:w5_admin_pages",
    "W6": "benchmarks.w_store:w6_log_queries",
    "W6X": "benchmarks.w_store:w6_export",
    "W7": "benchmarks.w_start:w7_cold_start",
    "W8": "benchmarks.w_daemon:w8_lockout",
    "W9": "benchmarks.w_daemon:w9_finger",
    "W10": "benchmarks.w_cli:w10_cli",
    "W11": "benchmarks.w_store:w11_pin_lookup_timing",  # hit / near miss / far miss: no timing oracle
    "W12": "benchmarks.w_alerts:w12_hanging_destination",  # decisions while an alert destination hangs
    "W13": "benchmarks.w_site:w13_site",  # a site: PostgreSQL + 50 kunci run daemons (issue 16)
}


def resolve(name: str) -> Callable[[Path, int, int], dict[str, Any]]:
    """The function of workload ``name``."""
    import importlib

    module, func = WORKLOADS[name].split(":")
    return getattr(importlib.import_module(module), func)


def main(argv: list[str] | None = None) -> int:
    """Run one workload and print its JSON result."""
    os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")
    parser = argparse.ArgumentParser(prog="python -m benchmarks.workload")
    parser.add_argument("name", choices=sorted(WORKLOADS))
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", type=Path, default=None, help="write cProfile top entries here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    func = resolve(args.name)
    if args.profile is None:
        result = func(args.data, args.runs, args.seed)
    else:
        import cProfile
        import io
        import pstats

        prof = cProfile.Profile()
        result = prof.runcall(func, args.data, args.runs, args.seed)
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(40)
        args.profile.write_text(buf.getvalue())
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
