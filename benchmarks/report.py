"""``python -m benchmarks.report FILE.jsonl``: the Markdown table of a run (as in docs/performance.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.runner import TABLE, _num


def markdown(results: list[dict[str, Any]]) -> str:
    """One row per (workload, metric) of :data:`benchmarks.runner.TABLE`; median / p95 / p99 per N."""
    sizes = sorted({r["n"] for r in results})
    by = {(r["workload"], r["n"]): r for r in results}
    head = "| metric | unit | " + " | ".join(f"N = {n:,}: median / p95 / p99" for n in sizes) + " | target |"
    out = [head, "|" + "---|" * (len(sizes) + 3)]
    for workload, metric, label, target in TABLE:
        cells, unit = [], ""
        for n in sizes:
            m = by.get((workload, n), {}).get("metrics", {}).get(metric)
            if m is None or not m.get("runs"):
                cells.append("")
                continue
            unit = m["unit"]
            cells.append(f"{_num(m['median'])} / {_num(m['p95'])} / {_num(m['p99'])} ({m['runs']})")
        if unit:
            out.append(f"| {label} | {unit} | " + " | ".join(cells) + f" | {target} |")
    w8 = [f"N = {r['n']:,}: {'PASS' if r['values'].get('passed') else 'FAIL'}" for r in results if r["workload"] == "W8"]
    if w8:
        out.append("| W8 lockout correctness | | " + " | ".join(w8) + " | pass |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Print the table of the JSON lines file given as the only argument."""
    args = sys.argv[1:] if argv is None else argv
    results = [json.loads(line) for line in Path(args[0]).read_text().splitlines() if line.strip()]
    print(markdown(results))
    first = results[0]
    print(f"\nCommit {first['git']['commit']}{' (+ local changes)' if first['git']['dirty'] else ''}; "
          f"{first['machine']['platform']}; Python {first['machine']['python']}; "
          f"{first['machine']['cpu_count']} CPUs ({first['machine']['cpu_model']}); "
          f"load average at start {first['machine']['loadavg_at_start']}; started {first['started_at']}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
