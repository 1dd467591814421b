"""What several benchmarks share, kept in one place so that they measure alike.

- Databases: the PostgreSQL server of `make services` (`DEFAULT_POSTGRES`), whether a server answers,
  scratch databases (SQLite files in a temporary folder, or `portal_bench_<random>` databases created on a
  server in AUTOCOMMIT and dropped afterwards), and the `--database-url` option of the benchmarks that
  run on SQLite and, when it answers, on PostgreSQL.
- One case in its own process: the seconds, CPU seconds and resident memory (now and peak, from
  /proc/self/status) of a measured block, the driver that runs `python <script> --one ...` and reads
  the JSON line it prints, and the figures of a case over its runs.
- The server: free loopback ports, one plain HTTP request, gunicorn started and stopped around a block,
  and the CPU time of its workers (from /proc).
- Generated data: field names per category, and a random day between two dates.

Each benchmark's docstring says how it uses these.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import datetime as dt
import http.client
import io
import json
import os
import pstats
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"  # the Makefile's PG_URL

T = TypeVar("T")


# --------------------------------------------------------------------------------------------------
# Databases


def answers(url: str) -> bool:
    """Whether the database server at `url` takes a connection within 3 seconds."""
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return True
    except Exception:  # noqa: BLE001 - any failure means: no server to run on
        return False
    finally:
        engine.dispose()


@contextmanager
def temporary_databases(url: str | None, count: int, *, prefix: str = "portal-bench-",
                        folder: Path | None = None) -> Iterator[list[str]]:
    """`count` fresh, empty databases, removed afterwards however the block ends.

    With no `url` or a `sqlite...` one: SQLite files `bench.sqlite3` (`bench-0.sqlite3`, `bench-1.sqlite3`,
    ... when more than one) in `folder`, or else in a temporary folder named with `prefix`. With a server
    URL: databases `portal_bench_<random>` created on that server in AUTOCOMMIT and dropped WITH (FORCE).
    """
    if url is None or url.startswith("sqlite"):
        names = ["bench.sqlite3"] if count == 1 else [f"bench-{n}.sqlite3" for n in range(count)]
        if folder is not None:
            yield [f"sqlite:///{folder / name}" for name in names]
            return
        with tempfile.TemporaryDirectory(prefix=prefix) as temporary:
            yield [f"sqlite:///{Path(temporary) / name}" for name in names]
        return
    names = [f"portal_bench_{secrets.token_hex(5)}" for _ in range(count)]
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield [make_url(url).set(database=name).render_as_string(hide_password=False) for name in names]
    finally:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def temporary_database(url: str | None, *, prefix: str = "portal-bench-", folder: Path | None = None) -> Iterator[str]:
    """One fresh, empty database, as `temporary_databases` makes them."""
    with temporary_databases(url, 1, prefix=prefix, folder=folder) as (only,):
        yield only


def add_database_urls_argument(parser: argparse.ArgumentParser) -> None:
    """`--database-url` (repeatable, into `args.urls`): the databases to run on, for `database_urls`."""
    parser.add_argument("--database-url", action="append", dest="urls", metavar="URL",
                        help="sqlite, or a postgresql+psycopg:// server URL; repeatable (default: SQLite, and "
                             f"PostgreSQL at {DEFAULT_POSTGRES} when it answers)")


def database_urls(urls: list[str] | None) -> list[str]:
    """The databases named, or else SQLite and, when it answers, PostgreSQL at `DEFAULT_POSTGRES`."""
    if urls:
        return urls
    urls = ["sqlite"]
    if answers(DEFAULT_POSTGRES):
        urls.append(DEFAULT_POSTGRES)
    else:
        print(f"PostgreSQL at {DEFAULT_POSTGRES} does not answer: SQLite only (`make services` starts it)")
    return urls


def goals_on_each(urls: Sequence[str], bench: Callable[[str], list[str]]) -> None:
    """`bench` on each database (it prints its own table and goals), then all goals together if more than one."""
    goals = []
    for url in urls:
        goals += bench(url)
    if len(urls) > 1:
        print("\nall goals:")
        for line in goals:
            print(line)


# --------------------------------------------------------------------------------------------------
# One case in its own process


def memory_kib(name: str) -> int:
    """A memory figure of this process from /proc/self/status, in KiB: VmRSS (now) or VmHWM (peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise LookupError(name)


@contextmanager
def measured() -> Iterator[dict[str, float]]:
    """The block's figures, filled in when it ends: `seconds` (wall clock), `cpu` (this process's CPU
    seconds), `start_kib` (resident memory before it) and `peak_kib` (this process's peak since exec).

    Not getrusage's ru_maxrss: Linux carries it over from the forked parent across exec, so every case
    would report at least the driver's own peak (checked: a 300 MB parent gives every child ru_maxrss
    300 MB). VmHWM is the peak of this process's own address space since exec.
    """
    figures: dict[str, float] = {}
    start_kib = memory_kib("VmRSS")
    started, cpu = time.perf_counter(), time.process_time()
    yield figures
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    figures.update(seconds=seconds, cpu=cpu, start_kib=start_kib, peak_kib=memory_kib("VmHWM"))


def run_case(script: str, args: Sequence[str], what: str) -> dict[str, Any]:
    """Run `python <script> --one <args>` from the checkout, a fresh process, and return the JSON line it
    printed last; fail with its stderr, naming the case `what`, when it fails."""
    command = [sys.executable, script, "--one", *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


@dataclass(kw_only=True)
class Runs:
    """The figures of one case over its runs, each its own process: best time, highest peak."""

    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    peaks_mb: list[float] = field(default_factory=list)
    starts_mb: list[float] = field(default_factory=list)

    def add(self, figures: dict[str, Any]) -> None:
        """Take one run's `measured` figures out of `figures` (memory in MB, 10^6 bytes)."""
        self.seconds.append(figures.pop("seconds"))
        self.cpu.append(figures.pop("cpu"))
        self.peaks_mb.append(figures.pop("peak_kib") * 1024 / 1e6)
        self.starts_mb.append(figures.pop("start_kib") * 1024 / 1e6)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def best_cpu(self) -> float:
        return min(self.cpu)

    @property
    def peak(self) -> float:
        return max(self.peaks_mb)

    @property
    def start(self) -> float:
        return min(self.starts_mb)


def print_profile(profiler: cProfile.Profile, heading: str, *, cumulative: int, own: int) -> None:
    """`heading`, then the profile's top `cumulative` functions by cumulative time and top `own` by own
    time, to stderr."""
    out = io.StringIO()
    out.write(heading)
    stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("cumulative")
    stats.print_stats(cumulative)
    out.write("\n--- by own time ---\n")
    stats.sort_stats("tottime").print_stats(own)
    print(out.getvalue(), file=sys.stderr)


# --------------------------------------------------------------------------------------------------
# The server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(port: int, path: str, headers: dict[str, str], method: str = "GET",
        body: str | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request to 127.0.0.1:`port` on a connection of its own: (status, headers, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def kept_cookie(headers: http.client.HTTPMessage, name: str, cookie: T) -> str | T:
    """The value of cookie `name` a browser keeps after an answer with these headers: the last non-empty
    one it sets, or else `cookie`."""
    kept: str | T = cookie
    for header in headers.get_all("Set-Cookie") or []:
        morsel = SimpleCookie(header).get(name)
        if morsel is not None and morsel.value:
            kept = morsel.value
    return kept


def portal_settings(database_url: str, port: int, *, production: bool = False, **more: str) -> dict[str, str]:
    """The `PORTAL_*` settings of a portal on 127.0.0.1:`port` with a fresh secret key (`PORTAL_SECRET_KEY`).

    Development over http; or production over https (so HSTS and the `__Host-portal` session cookie), the
    TLS being a proxy's that the load generator plays. `more` adds settings.
    """
    return {
        "PORTAL_ENV": "production" if production else "development",
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_SECRET_KEY": secrets.token_hex(32),
        "PORTAL_BASE_URL": f"{'https' if production else 'http'}://127.0.0.1:{port}",
        **(webhook_secrets() if production else {}),
        **more,
    }


def webhook_secrets() -> dict[str, str]:
    """A signing secret for every webhook system of the register: production refuses to start without them."""
    from portal.policy.register import default_register  # the scripts put the project on sys.path first

    return {f"PORTAL_SYSTEM_{system.id.upper()}_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
            for system in default_register().systems.values() if system.notice.delivery == "webhook"}


def tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def gunicorn_master(command: list[str], variables: dict[str, str], log: Path, *, drop: tuple[str, ...],
                    ready: Callable[[int], bool], start_timeout: float, poll_seconds: float, stop_timeout: float,
                    append: bool = False) -> Iterator[int]:
    """gunicorn run as `command` from the checkout until the block ends, however it ends; yields the master's pid.

    Its environment is this process's without the variables whose names start with one of `drop` (a
    `PORTAL_*` variable of the calling shell must not change what is measured), plus `variables`. Its
    output goes to `log` (appended to with `append`). The block begins once `ready(pid)` is true (an
    OSError counts as not yet, asked again every `poll_seconds`); gunicorn exiting first, or
    `start_timeout` seconds passing, fails with the log's last lines. At the end SIGTERM, graceful: the
    master stops its workers; killed if it has not exited after `stop_timeout` seconds.
    """
    env = {name: value for name, value in os.environ.items() if not name.startswith(drop)}
    env.update(variables)
    with log.open("ab" if append else "wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{tail(log)}")
            try:
                if ready(process.pid):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer within {start_timeout:.0f} s:\n{tail(log)}")
            time.sleep(poll_seconds)
        yield process.pid
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # graceful: the master stops its workers
            try:
                process.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def children(master: int) -> list[int]:
    """The pids of the master's child processes (its workers) now, from /proc; none once it is gone."""
    try:
        return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
    except FileNotFoundError:
        return []


def workers_cpu(master: int, *, reaped: bool = False) -> float:
    """CPU seconds used so far by the master's worker processes (Linux /proc).

    The live workers' own time; with `reaped`, plus the master's cutime and cstime: the time of the
    children it has reaped. So a worker recycled after `max_requests` during a round still counts;
    without `reaped` only the live workers do, and a recycled worker makes a round's figure go negative.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in children(master):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue  # a worker that just exited (the master's cutime has it once reaped)
        total += int(fields[11]) + int(fields[12])  # utime and stime, fields 14 and 15 of stat(5)
    if reaped:
        fields = Path(f"/proc/{master}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[13]) + int(fields[14])  # cutime and cstime, fields 16 and 17 of stat(5)
    return total / ticks


# --------------------------------------------------------------------------------------------------
# Generated data

# Plausible field names per register category, for generated data items.
FIELDS = {
    "contact": ("name", "job title", "phone", "office address", "e-mail", "company"),
    "correspondence": ("e-mail", "letter", "feedback", "chat question"),
    "payment": ("bank account", "invoice"),
    "delivery": ("assignment", "bank account", "purchase order"),
    "online": ("IP address", "visit", "cookie id"),
    "recruitment": ("CV", "date of birth", "interview notes", "application form"),
    "participation": ("business card", "dietary restriction", "company"),
    "media": ("photo", "video"),
}


def day_between(rng: random.Random, first: dt.date, last: dt.date) -> dt.date:
    """A day from `first` to `last` (both included; `first` when `last` is before it)."""
    return first + dt.timedelta(days=rng.randint(0, max(0, (last - first).days)))
