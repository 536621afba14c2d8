"""Where a test run's time went: ``KUNCI_TEST_TIMELINE=/tmp/t.log make test``, then
``python -m tests.timeline /tmp/t.log``. For each worker: its first start, last end and the tests longer than
``--over`` seconds in the order it ran them (with the minute they started), so the run's critical path shows.
"""

from __future__ import annotations

import argparse
from collections import defaultdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("timeline")
    parser.add_argument("--over", type=float, default=15.0, help="list tests longer than this many seconds")
    args = parser.parse_args()
    starts: dict[tuple[str, str], float] = {}
    runs: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    with open(args.timeline, encoding="utf-8") as f:
        for line in f:
            stamp, worker, what, nodeid = line.rstrip("\n").split(" ", 3)
            if what == "start":
                starts[(worker, nodeid)] = float(stamp)
            elif (worker, nodeid) in starts:
                runs[worker].append((starts.pop((worker, nodeid)), float(stamp), nodeid))
    t0 = min(start for items in runs.values() for start, _, _ in items)
    for worker in sorted(runs):
        items = sorted(runs[worker])
        busy = sum(end - start for start, end, _ in items)
        print(f"{worker}: {len(items)} tests, {items[0][0] - t0:.0f}..{items[-1][1] - t0:.0f} s, busy {busy:.0f} s")
        for start, end, nodeid in items:
            if end - start >= args.over:
                print(f"   at {start - t0:6.0f} s  {end - start:6.1f} s  {nodeid}")


if __name__ == "__main__":
    main()
