"""Summaries of samples (median, p95, p99, min, max), the machine and the git commit."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: The repository root (``benchmarks/`` lives directly inside it).
REPO = Path(__file__).resolve().parent.parent


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of the sorted ``ordered`` by linear interpolation."""
    if not ordered:
        raise ValueError("no samples")
    if len(ordered) == 1:
        return float(ordered[0])
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return float(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo))


def summarize(samples: Sequence[float], unit: str) -> dict[str, Any]:
    """``{median, p95, p99, min, max, runs, unit}`` of ``samples`` (values rounded to 4 significant places)."""
    ordered = sorted(float(s) for s in samples)
    if not ordered:
        return {"median": None, "p95": None, "p99": None, "min": None, "max": None, "runs": 0, "unit": unit}
    return {
        "median": _round(percentile(ordered, 50)),
        "p95": _round(percentile(ordered, 95)),
        "p99": _round(percentile(ordered, 99)),
        "min": _round(ordered[0]),
        "max": _round(ordered[-1]),
        "runs": len(ordered),
        "unit": unit,
    }


def _round(value: float) -> float:
    return float(f"{value:.4g}")


def machine_info() -> dict[str, Any]:
    """Platform, Python, CPU count and model, memory and the load average when called."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_mb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_mb = int(line.split()[1]) // 1024
                break
    except OSError:
        pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    return {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "mem_total_mb": mem_mb,
        "loadavg_at_start": load,
    }


def git_commit() -> dict[str, Any]:
    """``{commit, dirty}`` of the checkout (dirty = tracked files differ from the commit)."""
    def run(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = run("rev-parse", "HEAD").strip() or None
    dirty = bool(run("status", "--porcelain", "--untracked-files=no").strip())
    return {"commit": commit, "dirty": dirty}


def rss_mb(pid: int | str = "self") -> dict[str, float]:
    """``{rss, hwm}`` in MB (VmRSS and peak VmHWM from ``/proc/PID/status``)."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            out["rss"] = int(line.split()[1]) / 1024.0
        elif line.startswith("VmHWM:"):
            out["hwm"] = int(line.split()[1]) / 1024.0
    return out
