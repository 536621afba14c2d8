"""Kunci's performance suite (docs/performance.md).

``python -m benchmarks`` seeds one data directory per size N (people, PINs, fingerprints on the
simulated sensor's flash, a sealed event log), then runs every workload in a fresh process
(``python -m benchmarks.workload NAME --data DIR``) and writes one JSON line per (workload, N)
plus a table. Every workload drives the production code: the real :class:`controller.daemon.loop.Daemon`
on simulated hardware, the real Flask app, the real store functions. Nothing here re-implements
a decision; the harness only injects inputs and timestamps outputs.

Modules: :mod:`benchmarks.runner` (command line, orchestration), :mod:`benchmarks.seed` (data
sets), :mod:`benchmarks.harness` (an in-process daemon with timed pins), :mod:`benchmarks.workload`
(workload dispatch) with ``w_daemon``, ``w_store``, ``w_web`` and ``w_start``, ``w_site`` (W13: a whole site,
a real PostgreSQL and 50 ``kunci run`` processes, set up by :mod:`benchmarks.site_setup`), and
:mod:`benchmarks.stats` (percentiles, machine and commit).
"""
