"""Memory of gunicorn's master and workers under minutes of mixed traffic: does it stay flat?

Run:  .venv/bin/python bench/soak.py [--minutes 10] [--connections 16] [--sample-seconds 10] [--items 1000]
                                    [--database-url URL] [--workers N]

The server is bench/pages.py's (gunicorn -c gunicorn.conf.py serving `bench.wsgi_bench:app` in
production, a scratch PostgreSQL database, the abuse limits in Redis database `REDIS_DB`, an aiosmtpd
sink for the mail, the load through the proxy headers), with one difference: GUNICORN_MAX_REQUESTS=0.
gunicorn.conf.py recycles every worker after about 5,000 requests, and a recycled worker starts small
again, which would hide a slow leak: the soak turns recycling off so that each worker lives the whole
run, and it reports any worker that was replaced all the same.

Traffic: one wrk run for the whole soak with `--connections` connections, each thread going round the
plan home, overview, statement, overview, home, sign-in POST, overview, statement, home, overview (per
ten requests: home 3, statement 2, signed-in overview 4, sign-in 1), every sign-in with its own e-mail
address and client address as in bench/pages.py. Every answer's status is checked.

Samples, every `--sample-seconds` (10): the resident memory (VmRSS of /proc/<pid>/status) of the master
and of each worker, and the requests the server's request log counted since the previous sample.

Verdict: the first minute is warm-up (half the run when the run is shorter than two minutes): caches
fill, every template compiles, the connection pools open. Over the samples after it, a least-squares
line through the total RSS of master and workers; memory is flat when that line rises less than
`GOAL_GROWTH_MB` (10 MB) from the end of the warm-up to the end of the run. The run is bounded:
`--minutes` from 1 to 60 (default 10; `make bench` runs 2, `make soak` the full 10).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

from bench.common import children  # noqa: E402
from bench.pages import (  # noqa: E402
    REDIS_HOST,
    add_server_arguments,
    audit_entries,
    cannot_run,
    check_pages,
    pages,
    parse_wrk,
    read_log,
    serving,
    wrk_command,
)
from bench.results import record  # noqa: E402

REDIS_DB = 15  # bench/pages.py uses 14, tests/integration/test_two_servers.py 11
GOAL_GROWTH_MB = 10.0
WARM_UP_SECONDS = 60.0
MINUTES = (1.0, 60.0)  # the bounds of --minutes
PLAN = ("home", "overview", "statement", "overview", "home", "sign_in", "overview", "statement", "home", "overview")


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MB (10^6 bytes), or None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


@dataclass
class Sample:
    seconds: float  # since the load began
    master: float
    workers: dict[int, float]  # pid: MB
    requests: int  # logged since the previous sample
    errors: int  # of those, answered 4xx or 5xx

    @property
    def total(self) -> float:
        return self.master + sum(self.workers.values())


@dataclass
class LogReader:
    """Counts the request log's lines as the server appends them."""

    path: Path
    offset: int = 0
    partial: bytes = b""
    statuses: Counter[int] = field(default_factory=Counter)

    def read(self) -> tuple[int, int]:
        with self.path.open("rb") as log:
            log.seek(self.offset)
            data = log.read()
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        requests = errors = 0
        for line in lines:
            if line.startswith(b"{") and b'"status":' in line:
                try:
                    status = int(json.loads(line)["status"])
                except (ValueError, KeyError):
                    continue
                requests += 1
                errors += status >= 400
                self.statuses[status] += 1
        return requests, errors


def fit(points: list[tuple[float, float]]) -> float:
    """The least-squares slope of y over x."""
    count = len(points)
    mean_x = sum(x for x, _y in points) / count
    mean_y = sum(y for _x, y in points) / count
    spread = sum((x - mean_x) ** 2 for x, _y in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0,
                        help=f"length of the soak, {MINUTES[0]:g} to {MINUTES[1]:g} (default 10)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--sample-seconds", type=float, default=10.0, help="seconds between samples (default 10)")
    parser.add_argument("--timeout", type=int, default=30, help="seconds without an answer that count as an error")
    add_server_arguments(parser)
    args = parser.parse_args(argv)
    if not MINUTES[0] <= args.minutes <= MINUTES[1]:
        parser.error(f"--minutes must be from {MINUTES[0]:g} to {MINUTES[1]:g}")
    if not 1 <= args.sample_seconds <= 60 or args.connections < 1:
        parser.error("--sample-seconds must be from 1 to 60, --connections at least 1")
    redis_url = f"{REDIS_HOST}/{REDIS_DB}"
    if cannot_run("bench/soak.py", args.database_url, redis_url):
        return 2

    duration = round(args.minutes * 60)
    warm_up = min(WARM_UP_SECONDS, duration / 2)
    samples: list[Sample] = []
    seen_workers: set[int] = set()
    with serving(server_url=args.database_url, redis_url=redis_url, items=args.items, workers=args.workers,
                 max_requests=0, prefix="portal-bench-soak-") as stack:
        chosen = pages(stack)
        check_pages(stack, [chosen[key] for key in dict.fromkeys(PLAN)])
        plan = [chosen[key] for key in PLAN]
        print(f"server: gunicorn -c gunicorn.conf.py, {stack.workers} sync workers, GUNICORN_MAX_REQUESTS=0 "
              "(no recycling: a leak must show, not be reset), PORTAL_ENV=production, PostgreSQL scratch database, "
              f"limits in Redis db {REDIS_DB}, aiosmtpd sink; person with {stack.person.items:,} items")
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} before the run")
        print(f"load: wrk, {args.connections} connections for {duration} s, per ten requests: home 3, statement 2, "
              f"overview 4, sign-in POST 1; RSS sampled every {args.sample_seconds:g} s; warm-up {warm_up:.0f} s")
        reader = LogReader(stack.log)
        reader.read()  # the set-up's requests are not the soak's
        command = wrk_command(stack, plan, seconds=duration, connections=args.connections, timeout=args.timeout)
        output = stack.folder / "wrk-soak.out"
        with output.open("w") as out:
            wrk = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, text=True)
        began = time.monotonic()
        try:
            header = "  ".join(f"{'w' + str(n + 1):>6}" for n in range(stack.workers))
            print(f"\n{'t s':>5}  {'master':>6}  {header}  {'total MB':>8}  {'req/s':>6}  errors")
            last = began
            while True:
                now = time.monotonic()
                workers = children(stack.master)
                seen_workers.update(workers)
                requests, errors = reader.read()
                sample = Sample(now - began, rss_mb(stack.master) or 0.0,
                                {pid: mb for pid in workers if (mb := rss_mb(pid)) is not None}, requests, errors)
                samples.append(sample)
                cells = "  ".join(f"{mb:>6.1f}" for mb in sample.workers.values())
                # The last sample comes as wrk ends, a moment after the one before: no rate over so short a time.
                rate = f"{requests / (now - last):>6.0f}" if now - last >= args.sample_seconds / 2 else f"{'-':>6}"
                print(f"{sample.seconds:>5.0f}  {sample.master:>6.1f}  {cells}  {sample.total:>8.1f}  {rate}  {errors}",
                      flush=True)
                last = now
                if wrk.poll() is not None:
                    break
                next_at = began + len(samples) * args.sample_seconds
                while time.monotonic() < next_at and wrk.poll() is None:
                    time.sleep(0.2)
            if time.monotonic() - began > duration + args.timeout + 60:
                raise RuntimeError("wrk ran past its bound")
        finally:
            if wrk.poll() is None:
                wrk.kill()
                wrk.wait()
        if wrk.returncode != 0:
            raise RuntimeError(f"wrk failed ({wrk.returncode}):\n{output.read_text()}")
        load = parse_wrk(output.read_text(), plan, args.connections, label="mixed")
        time.sleep(1)
        logged = read_log(stack.log)
        mails = stack.mail.received
        viewed = audit_entries(stack)

    measured = [sample for sample in samples if sample.seconds >= warm_up]
    if len(measured) < 2:
        print(f"too few samples after the warm-up ({len(measured)}): run longer", file=sys.stderr)
        return 1
    start, end = measured[0], measured[-1]
    span_minutes = (end.seconds - start.seconds) / 60
    slope = fit([(sample.seconds / 60, sample.total) for sample in measured])  # MB per minute
    growth = slope * span_minutes
    replaced = len(seen_workers) - stack.workers

    print()
    print(f"{'process':<12} {'first MB':>9} {'at warm-up':>11} {'last MB':>8} {'max MB':>7} {'after warm-up':>14} "
          f"{'MB/min':>7}")
    rows = [("master", [(s.seconds, s.master) for s in samples])]
    for n, pid in enumerate(sorted(seen_workers)):
        rows.append((f"worker {n + 1}", [(s.seconds, s.workers[pid]) for s in samples if pid in s.workers]))
    rows.append(("total", [(s.seconds, s.total) for s in samples]))
    for name, series in rows:
        after = [(t / 60, mb) for t, mb in series if t >= warm_up]
        at_warm_up = after[0][1] if after else float("nan")
        per_minute = fit(after) if len(after) >= 2 else float("nan")
        print(f"{name:<12} {series[0][1]:>9.1f} {at_warm_up:>11.1f} {series[-1][1]:>8.1f} "
              f"{max(mb for _t, mb in series):>7.1f} {series[-1][1] - at_warm_up:>+14.1f} {per_minute:>+7.2f}")
    print()
    print(f"load: {load.requests:,} answers in {load.seconds:.0f} s ({load.rate:,.0f}/s), p50 {load.p50:.1f} ms, "
          f"p99 {load.p99:.1f} ms, max {load.max:.0f} ms; statuses {dict(sorted(load.statuses.items()))}; "
          f"errors: {load.describe_errors()}")
    print(f"server log: {logged.requests:,} requests, statuses {dict(sorted(logged.statuses.items()))}, "
          f"{len(logged.problems)} error lines; workers replaced: {max(replaced, 0)}; mails received by the sink: "
          f"{mails:,}; audit entries about the signed-in person: {viewed:,}")
    for line in logged.problems[:10]:
        print(f"  {line}")
    print()
    flat = growth < GOAL_GROWTH_MB
    print(f"{'PASS' if flat else 'FAIL'}  memory flat: the total RSS of the master and {stack.workers} workers "
          f"{growth:+.1f} MB over the {span_minutes:.1f} min after a {warm_up:.0f} s warm-up (fitted line, "
          f"{slope:+.2f} MB/min; goal under +{GOAL_GROWTH_MB:g} MB), {start.total:.1f} -> {end.total:.1f} MB "
          f"measured; max {max(s.total for s in samples):.1f} MB")
    clean = load.errors == 0 and replaced <= 0 and not logged.problems
    print(f"{'PASS' if clean else 'FAIL'}  no error in the soak: {load.errors:,} errors in {load.requests:,} answers, "
          f"{max(replaced, 0)} workers replaced, {len(logged.problems)} error lines in the server log")

    label = f"{args.minutes:g} min"
    record("soak", f"RSS growth after warm-up, master + {stack.workers} workers ({label})", growth, "+MB",
           goal=f"< +{GOAL_GROWTH_MB:g} MB", passed=flat)
    record("soak", f"RSS slope after warm-up ({label})", slope, "+MB/min")
    record("soak", f"RSS total at the end ({label})", end.total, "MB", baseline=start.total)
    record("soak", f"errors, mixed traffic ({label}, {load.requests:,} answers)", load.errors, "errors",
           goal="0", passed=clean)
    return 0


if __name__ == "__main__":
    sys.exit(main())
