"""Requests per second and p99 latency of the portal's pages under gunicorn and PostgreSQL, next to a bare page.

Run:  .venv/bin/python bench/pages.py [--seconds 10] [--connections 16] [--peak-connections 200] [--items 1000]
                                     [--database-url URL] [--workers N] [--profile]

The server is set up as `make serve` runs it in production, on loopback:
- gunicorn with `gunicorn.conf.py` (sync workers, `GUNICORN_WORKERS` from the cores: 2 per core plus one,
  the file's own rule; recycling after ~5,000 requests as configured) serving `bench.wsgi_bench:app`: the
  portal plus the bare page `/bench/bare`, which goes through the same app and renders a tiny template;
- `PORTAL_ENV=production` with a scratch PostgreSQL database `portal_bench_<random>` (created in
  AUTOCOMMIT on `--database-url`, migrated, ANALYZEd after the inserts, dropped afterwards: the
  `temporary_database` of bench/common.py, as bench/export.py uses it), the abuse limits in Redis
  database `REDIS_DB` (a number nothing else here uses, emptied before and after), `PORTAL_SMTP_URL`
  pointing at a throwaway aiosmtpd sink in this process (so sign-in mails go out and leave the outbox,
  as with a real mail server), an https `PORTAL_BASE_URL` (so HSTS and the `__Host-portal` session
  cookie, as in production) and the JSON request log on;
- `PORTAL_TRUSTED_PROXIES=1`: the load generator plays the TLS-terminating proxy of the deployment
  guide and sends `X-Forwarded-Proto: https` and `X-Forwarded-For` with every request, over plain http.

Pages: the home page `/` and the statement `/statement` (anonymous), a signed-in person's overview
`/me` (one person with `--items` data items under two relations and two consents, as bench/overview.py
makes them, and a live session whose cookie is forged with the app's own serializer, as there), the
sign-in POST (`/sign-in` with the CSRF token of a session cookie fetched once, and a new e-mail address
for every request: the limit per address is 3 per 15 minutes), and the bare page with the overview's
cookie (as bench/overview.py measures it: Flask-Login's context processor then looks the session up, one
SELECT, so the anonymous home page, which makes no query at all, can be faster than the bare page).
Every sign-in request comes from its own `X-Forwarded-For` address: the limit per client is 30 per
hour, and the load models many people behind the one proxy, which is what the portal counts in
production. Each sign-in issues a link, queues its mail and writes an audit entry, as for a real
person. A session's views of its overview are written to the audit trail once per quarter hour.

The overview's data-derived body is kept rendered per worker (portal/account/page_cache.py) under a key
read in one statement on every view: the person's revision and the generation that every write to what
the page shows moves (portal/services/revisions.py). Nothing changes the person's data during the run,
so after each worker's first view the overview row measures a returning visitor; the row "overview,
first view" sends `X-Bench-Cold` so that bench.wsgi_bench throws the kept bodies away before every
request, and measures what a view costs after a change (an import, a request, the back office) or in
a worker that has not rendered it yet. The goal is judged on the first; both are printed.

Load: wrk (Debian's package; `make wrk` installs it), `min(2, connections)` threads, with a Lua script
generated per round that checks every answer's status: 200 for the pages, 303 for the sign-in POST.
An error is any other status (a redirect of `/me` to the sign-in page included), a socket error
(connect, read, write), or no answer within `--timeout` seconds (30: below gunicorn's worker timeout of
60, far above what a person waits before reloading; wrk's own default of 2 s would count slow answers
queued behind 200 connections as errors). Sync workers close the connection after every answer, so each
request opens a new one, as behind nginx without upstream keep-alive; the latencies include that
connect and the time spent queued in the listen backlog.

Rounds: a short unmeasured warm-up of every page, then `--seconds` per page at `--connections` in the
order bare, home, statement, overview, sign-in and back (each page's better round is kept, and on
average every page sits as late in the run as the bare page), then every page once at
`--peak-connections` (200), for at least `--seconds` and long enough for every connection to be answered
about `PEAK_TURNS` times at the rate that page reached (at most `PEAK_SECONDS_MAX`); a round that ends
with fewer answers than connections is not judged, and fails the goal. wrk shares the two cores with the
workers, PostgreSQL and Redis; the table gives the workers' CPU time per answer (from /proc, workers
that gunicorn recycled during the round included) beside the rates, which moves far less than the rate
when other work shares the machine. Only ratios measured in one run mean anything.

Goals (the issue): the overview at least half the bare page's rate; no error under 200 concurrent
connections. `--profile` then serves the bare page and `/me` (kept and first view) from one worker of
`bench.wsgi_profile:app` (the same app, timed and under cProfile) and prints where a request's time goes.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import pstats  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import urlencode  # noqa: E402

from sqlalchemy import text  # noqa: E402

from bench.common import (  # noqa: E402
    DEFAULT_POSTGRES,
    answers,
    children,
    free_port,
    get,
    gunicorn_master,
    kept_cookie,
    portal_settings,
    temporary_database,
    workers_cpu,
)
from bench.overview import (  # noqa: E402
    BARE_PATH,
    COLD_HEADER,
    Person,
    check_overview,
    signed_in_person,
)
from bench.results import record  # noqa: E402
from portal.database import Database  # noqa: E402
from portal.policy.register import default_register  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REDIS_DB = 14  # tests/integration/test_two_servers.py uses 11, the default deployment 0
REDIS_HOST = "redis://127.0.0.1:6379"
GOAL_RATIO = 0.5  # the issue: the overview at least half the bare page's rate
START_TIMEOUT = 60.0
WARM_UP_SECONDS = 2
PEAK_TURNS = 4  # the 200-connection round lasts long enough for each connection to be answered ~4 times
PEAK_SECONDS_MAX = 120
CLIENT = "198.51.100.20"  # X-Forwarded-For of the anonymous and signed-in page loads (TEST-NET-2)
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


# --------------------------------------------------------------------------------------------------
# The mail sink: sign-in mails go out and leave the outbox, as with a real mail server


class MailSink:
    """An aiosmtpd server in a thread of this process that accepts every mail and counts it."""

    def __init__(self) -> None:
        self.received = 0
        self.port = free_port()

    async def handle_DATA(self, _server: object, _session: object, _envelope: object) -> str:  # noqa: N802
        self.received += 1
        return "250 OK"


@contextmanager
def mail_sink() -> Iterator[MailSink]:
    from aiosmtpd.controller import Controller  # the test extra; `make bench` installs it

    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


# --------------------------------------------------------------------------------------------------
# The services and the server


def flush_redis(url: str) -> None:
    import redis  # limits[redis]: a dependency of the portal

    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.flushdb()
    finally:
        client.close()


def check_services(database_url: str, redis_url: str) -> str | None:
    """Why the bench cannot run here (PostgreSQL, Redis or wrk missing), or None."""
    if not shutil.which("wrk"):
        return "wrk is not installed: `make wrk` installs Debian's package"
    if not answers(database_url):
        return f"PostgreSQL at {database_url} does not answer: `make services` starts it"
    try:
        flush_redis(redis_url)
    except Exception as error:  # noqa: BLE001 - any failure means: no Redis to count in
        return f"Redis at {redis_url} does not answer ({type(error).__name__}): `make services` starts it"
    return None


def cannot_run(script: str, database_url: str, redis_url: str) -> bool:
    """Whether `check_services` finds a reason why `script` cannot run here, which it then prints."""
    problem = check_services(database_url, redis_url)
    if problem:
        print(f"{script} cannot run: {problem}", file=sys.stderr)
    return problem is not None


def default_workers() -> int:
    return (os.cpu_count() or 1) * 2 + 1  # gunicorn.conf.py's rule


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """`--items`, `--workers` and `--database-url`: the data and the server of `serving`."""
    parser.add_argument("--items", type=int, default=1000, help="data items of the signed-in person (default 1000)")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help=f"gunicorn workers (default {default_workers()}: 2 per core plus one)")
    parser.add_argument("--database-url", default=DEFAULT_POSTGRES,
                        help=f"PostgreSQL server URL for the scratch database (default {DEFAULT_POSTGRES})")


@contextmanager
def gunicorn(port: int, settings: dict[str, str], log: Path, *, workers: int, max_requests: int | None = None,
             app: str = "bench.wsgi_bench:app", extra_env: dict[str, str] | None = None) -> Iterator[int]:
    """gunicorn -c gunicorn.conf.py serving `app` until the block ends, however it ends; yields the master's pid."""
    variables = {**settings, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": str(workers)}
    if max_requests is not None:
        variables["GUNICORN_MAX_REQUESTS"] = str(max_requests)
    variables.update(extra_env or {})
    command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), app]

    def ready(master: int) -> bool:
        return get(port, BARE_PATH, {})[0] == 200 and len(children(master)) >= workers

    # Only our settings: a PORTAL_* or GUNICORN_* variable of the calling shell must not change what is measured.
    with gunicorn_master(command, variables, log, drop=("PORTAL_", "GUNICORN_"), ready=ready,
                         start_timeout=START_TIMEOUT, poll_seconds=0.2, stop_timeout=40, append=True) as master:
        yield master


@dataclass(frozen=True)
class LogReport:
    requests: int
    statuses: Counter[int]
    problems: list[str]  # error lines of gunicorn and the portal: tracebacks, worker timeouts


def read_log(log: Path) -> LogReport:
    """The request log's statuses and gunicorn's complaints, from the server's combined output."""
    statuses: Counter[int] = Counter()
    problems = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"status":' in line:
            try:
                statuses[int(json.loads(line)["status"])] += 1
            except (ValueError, KeyError):
                problems.append(line)
        elif any(mark in line for mark in ("[ERROR]", "[CRITICAL]", "Traceback", "WORKER TIMEOUT", "SIGKILL")):
            problems.append(line)
    return LogReport(sum(statuses.values()), statuses, problems)


# --------------------------------------------------------------------------------------------------
# The stack: database, person, session, mail sink, Redis and gunicorn


@dataclass
class Stack:
    port: int
    master: int
    workers: int
    max_requests: int
    folder: Path
    log: Path
    settings: dict[str, str]
    database_url: str
    person: Person
    cookie_name: str
    me_cookie: str  # the signed-in person's session cookie
    signin_cookie: str  # an anonymous session cookie holding `csrf_token`
    csrf_token: str
    mail: MailSink
    setup_seconds: float


@contextmanager
def serving(*, server_url: str, redis_url: str, items: int, workers: int, max_requests: int | None,
            prefix: str) -> Iterator[Stack]:
    """Everything the pages need, torn down afterwards however the block ends."""
    started = time.perf_counter()
    register = default_register()
    with tempfile.TemporaryDirectory(prefix=prefix) as folder, temporary_database(server_url) as url, \
            mail_sink() as mail:
        port = free_port()
        settings = portal_settings(url, port, production=True, PORTAL_SMTP_URL=f"smtp://127.0.0.1:{mail.port}",
                                   PORTAL_RATELIMIT_STORAGE_URI=redis_url, PORTAL_TRUSTED_PROXIES="1")
        person, cookie_name, cookie = signed_in_person(settings, register, items)  # then ANALYZEd
        assert cookie_name == "__Host-portal", cookie_name  # https base URL: production's cookie
        log = Path(folder) / "gunicorn.log"
        flush_redis(redis_url)
        try:
            with gunicorn(port, settings, log, workers=workers, max_requests=max_requests) as master:
                me_cookie = check_overview(port, cookie_name, cookie, person)
                signin_cookie, token = sign_in_form(port, cookie_name)
                yield Stack(
                    port=port, master=master, workers=workers,
                    max_requests=5000 if max_requests is None else max_requests, folder=Path(folder), log=log,
                    settings=settings, database_url=url, person=person, cookie_name=cookie_name,
                    me_cookie=me_cookie, signin_cookie=signin_cookie, csrf_token=token, mail=mail,
                    setup_seconds=time.perf_counter() - started,
                )
        finally:
            flush_redis(redis_url)


def audit_entries(stack: Stack) -> int:
    """The audit entries about the signed-in person so far (`/me` reads the company's among them)."""
    database = Database(stack.database_url)
    try:
        with database.engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM audit_personal WHERE subject_email = :email"),
                                          {"email": stack.person.email}).scalar_one())
    finally:
        database.dispose()


def sign_in_form(port: int, cookie_name: str) -> tuple[str, str]:
    """The session cookie and CSRF token a browser gets with the sign-in page, through the proxy."""
    status, headers, body = get(port, "/sign-in", {"X-Forwarded-Proto": "https", "X-Forwarded-For": CLIENT})
    assert status == 200, f"/sign-in answered {status}"
    found = CSRF.search(body.decode("utf-8"))
    assert found, "no csrf_token in the sign-in form"
    cookie = kept_cookie(headers, cookie_name, None)
    assert cookie, f"the sign-in page set no {cookie_name} cookie"
    return cookie, found.group(1) or found.group(2)


# --------------------------------------------------------------------------------------------------
# The pages and the load generator


@dataclass(frozen=True)
class Page:
    key: str
    label: str
    method: str
    path: str
    headers: dict[str, str]
    expected: int
    body: str | None = None  # for the sign-in POST: the form without the address, which each request adds

    @property
    def signs_in(self) -> bool:
        return self.body is not None


def pages(stack: Stack) -> dict[str, Page]:
    proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-For": CLIENT}
    me = {**proxy, "Cookie": f"{stack.cookie_name}={stack.me_cookie}"}
    form = {**proxy, "Cookie": f"{stack.cookie_name}={stack.signin_cookie}",
            "Content-Type": "application/x-www-form-urlencoded",
            # Behind https, Flask-WTF checks that a form comes from this host's pages (WTF_CSRF_SSL_STRICT).
            "Referer": f"https://127.0.0.1:{stack.port}/sign-in"}
    return {
        "bare": Page("bare", f"bare Flask page ({BARE_PATH})", "GET", BARE_PATH, me, 200),
        "home": Page("home", "home (/)", "GET", "/", proxy, 200),
        "statement": Page("statement", "statement (/statement)", "GET", "/statement", proxy, 200),
        "overview": Page("overview", f"overview (/me), {stack.person.items:,} items", "GET", "/me", me, 200),
        "overview_cold": Page("overview_cold", "overview, first view (body rendered)", "GET", "/me",
                              {**me, COLD_HEADER: "1"}, 200),
        "sign_in": Page("sign_in", "sign-in POST (/sign-in)", "POST", "/sign-in", form, 303,
                        body=urlencode({"csrf_token": stack.csrf_token, "next": ""}) + "&email="),
    }


def check_pages(stack: Stack, chosen: Sequence[Page]) -> None:
    """One request per page before any load: each answers what the load generator will expect."""
    for page in chosen:
        body = None
        headers = dict(page.headers)
        if page.signs_in:
            body = f"{page.body}bench.check.{secrets.token_hex(4)}%40example.com"
            headers["X-Forwarded-For"] = "192.0.2.1"
        status, answer, content = get(stack.port, page.path, headers, page.method, body)
        assert status == page.expected, (f"{page.method} {page.path} answered {status}, not {page.expected} "
                                         f"({answer.get('Location') or content[:300]!r})")
        if page.signs_in:
            assert (answer.get("Location") or "").endswith("/sign-in/check-mail"), answer.get("Location")


def lua_string(value: str) -> str:
    return '"' + "".join(ch if ch.isalnum() or ch in " .,:;/_-=+%&?()<>@*#!~'" else f"\\{ord(ch):03d}"
                         for ch in value) + '"'


def lua_script(plan: Sequence[Page], *, tag: str, first_id: int) -> str:
    """A wrk script that sends `plan` in turn, round and round, and counts every answer's status.

    A sign-in request gets a new address (`bench.<tag>.<thread>.<n>@example.com`) and a new client
    address in `X-Forwarded-For` (`<10 + thread>.<24 bits of first_id + n>`), so that no abuse limit
    counts two of them together. `done` prints one line `RESULT {json}` with wrk's figures.
    """
    kinds = []
    for page in plan:
        headers = ", ".join(f"[{lua_string(name)}] = {lua_string(value)}" for name, value in page.headers.items())
        body = lua_string(page.body) if page.body is not None else "nil"
        kinds.append(f"  {{method = {lua_string(page.method)}, path = {lua_string(page.path)}, "
                     f"headers = {{{headers}}}, body = {body}}},")
    kinds_lua = "\n".join(kinds)
    return f"""-- generated by bench/pages.py for one wrk run
local threads = {{}}
local started = 0
function setup(thread)
  started = started + 1
  thread:set("tid", started)
  table.insert(threads, thread)
end

local kinds = {{
{kinds_lua}
}}
local at = 0
local n = 0
statuses = {{}}

function init(args)
  for _, kind in ipairs(kinds) do
    if kind.body == nil then kind.request = wrk.format(kind.method, kind.path, kind.headers, nil) end
  end
  at = tid - 1  -- the threads start at different places in the plan
end

function request()
  at = at % #kinds + 1
  local kind = kinds[at]
  if kind.request then return kind.request end
  n = n + 1
  local id = {first_id} + n
  local headers = {{}}
  for name, value in pairs(kind.headers) do headers[name] = value end
  headers["X-Forwarded-For"] = string.format("%d.%d.%d.%d", 10 + tid, math.floor(id / 65536) % 256,
                                             math.floor(id / 256) % 256, id % 256)
  local body = kind.body .. string.format("bench.{tag}.%d.%d%%40example.com", tid, n)
  return wrk.format(kind.method, kind.path, headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {{}}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  local counts = {{}}
  for status, count in pairs(totals) do counts[#counts + 1] = string.format('"%d":%d', status, count) end
  local e = summary.errors
  io.write(string.format('RESULT {{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,"statuses":{{%s}}}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, latency:percentile(50),
    latency:percentile(99), latency.max, table.concat(counts, ",")))
end
"""


@dataclass
class Load:
    """One wrk run: what it asked, how fast the answers came, and which were wrong."""

    label: str
    connections: int
    requests: int
    seconds: float
    p50: float  # ms
    p99: float
    max: float
    statuses: Counter[int]
    socket_errors: dict[str, int]
    expected: set[int]
    server_cpu: float = 0.0  # CPU seconds of the gunicorn workers during the run
    output: str = ""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def wrong_statuses(self) -> int:
        return sum(count for status, count in self.statuses.items() if status not in self.expected)

    @property
    def errors(self) -> int:
        return self.wrong_statuses + sum(self.socket_errors.values())

    @property
    def judged(self) -> bool:
        """Whether every connection was answered at least once: otherwise the round says little about errors."""
        return self.requests >= self.connections

    @property
    def cpu_per_request(self) -> float:
        """Milliseconds of worker CPU per answer."""
        return self.server_cpu / self.requests * 1000 if self.requests else float("nan")

    def describe_errors(self) -> str:
        parts = [f"{count:,} x {status}" for status, count in sorted(self.statuses.items())
                 if status not in self.expected]
        parts += [f"{count:,} {kind}" for kind, count in self.socket_errors.items() if count]
        return ", ".join(parts) or "none"


_runs = 0


def wrk_command(stack: Stack, plan: Sequence[Page], *, seconds: int, connections: int, timeout: int) -> list[str]:
    """The wrk command line (and its generated script) for `plan` against the stack."""
    global _runs
    _runs += 1
    script = stack.folder / f"wrk-{_runs}.lua"
    script.write_text(lua_script(plan, tag=f"{secrets.token_hex(3)}r{_runs}", first_id=(_runs % 16) << 20))
    threads = max(1, min(2, connections))
    return ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout", f"{timeout}s",
            "-s", str(script), f"http://127.0.0.1:{stack.port}"]


def parse_wrk(output: str, plan: Sequence[Page], connections: int, label: str | None = None) -> Load:
    """The `RESULT` line the generated script prints, as a `Load`."""
    line = next((text for text in output.splitlines() if text.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no RESULT line:\n{output}")
    figures = json.loads(line.removeprefix("RESULT "))
    statuses: Counter[int] = Counter()
    for status, count in figures["statuses"].items():
        statuses[int(status)] += count
    return Load(
        label=label or " + ".join(page.label for page in plan), connections=connections,
        requests=figures["requests"], seconds=figures["duration_us"] / 1e6, p50=figures["p50_us"] / 1000,
        p99=figures["p99_us"] / 1000, max=figures["max_us"] / 1000, statuses=statuses,
        socket_errors={kind: figures[kind] for kind in ("connect", "read", "write", "timeout")},
        expected={page.expected for page in plan}, output=output,
    )


def run_wrk(stack: Stack, plan: Sequence[Page], *, seconds: int, connections: int, timeout: int,
            label: str | None = None) -> Load:
    """wrk against the stack for `seconds` with `connections`, sending the pages of `plan` in turn."""
    command = wrk_command(stack, plan, seconds=seconds, connections=connections, timeout=timeout)
    cpu = workers_cpu(stack.master, reaped=True)  # workers recycled during the run included
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=seconds + timeout + 60)
    used = workers_cpu(stack.master, reaped=True) - cpu
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    load = parse_wrk(done.stdout, plan, connections, label)
    load.server_cpu = used
    return load


# --------------------------------------------------------------------------------------------------
# Profile: where the overview's time goes, under gunicorn and PostgreSQL


def profile(stack: Stack, requests: int) -> None:
    """Serve `/me` and the bare page from one worker of bench.wsgi_profile:app and print where the time goes."""
    folder = stack.folder / "profile"
    folder.mkdir()
    port = free_port()
    chosen = pages(stack)
    print(f"\nprofile: one gunicorn worker of bench.wsgi_profile:app on 127.0.0.1:{port}, {requests} requests per "
          "page one after another (no concurrency), same database, same settings")
    for key in ("bare", "overview", "overview_cold"):
        page = chosen[key]
        runs = folder / key
        runs.mkdir()
        # Timings first (cheap hooks), then cProfile in a second server: its overhead must not enter the timings.
        for mode in ("timings", "cprofile"):
            with gunicorn(port, stack.settings, stack.folder / f"profile-{key}-{mode}.log", workers=1,
                          app="bench.wsgi_profile:app",
                          extra_env={"BENCH_PROFILE_DIR": str(runs), "BENCH_PROFILE_MODE": mode}):
                for n in range(requests + 5):
                    if n == 5:  # the first five warm the worker: templates compiled, connection open
                        get(port, "/bench/profile/reset", {})
                    status, _headers, _body = get(port, page.path, page.headers)
                    assert status == page.expected, f"{page.path} answered {status} under the profiler"
                get(port, "/bench/profile/dump", {})
        timings = [json.loads(line) for path in runs.glob("timings-*.jsonl")
                   for line in path.read_text().splitlines()]
        print_timings(page.label, timings)
        stats = pstats.Stats(*(str(path) for path in runs.glob("cprofile-*.prof")))
        stats.strip_dirs().sort_stats("cumulative")
        print(f"\n--- cProfile, {page.label}: {requests} requests, cumulative (per-request ms = cumtime / "
              f"{requests} x 1000) ---")
        stats.print_stats(45)
        print(f"--- cProfile, {page.label}: by own time ---")
        stats.sort_stats("tottime").print_stats(30)


def print_timings(label: str, timings: list[dict[str, Any]]) -> None:
    if not timings:
        print(f"no timings for {label}")
        return
    count = len(timings)

    def mean(name: str) -> float:
        return float(sum(entry[name] for entry in timings)) / count

    def median(name: str) -> float:
        return float(sorted(entry[name] for entry in timings)[count // 2])

    print(f"\n{label}: {count} requests, one worker, no concurrency (mean / median)")
    rows = [
        ("whole request in the worker (WSGI call)", "wall_ms"),
        ("  CPU time of the worker", "cpu_ms"),
        ("  SQL: cursor.execute, to the last row", "sql_ms"),
        ("    of which queries the templates make", "sql_in_render_ms"),
        ("  COMMIT", "commit_ms"),
        ("  ROLLBACK when the connection returns to the pool", "rollback_ms"),
        ("  templates: render_template, without their SQL", "render_ms"),
        ("  the rest (Python outside SQL and templates)", "rest_ms"),
    ]
    for name, key in rows:
        print(f"  {name:<48} {mean(key):8.2f} ms {median(key):8.2f} ms")
    print(f"  {'statements per request':<48} {mean('statements'):8.1f}    {median('statements'):8.0f}")
    print(f"  {'commits per request':<48} {mean('commits'):8.1f}    {median('commits'):8.0f}")
    print(f"  {'response size':<48} {mean('bytes') / 1000:8.1f} kB")
    steps: dict[str, list[float]] = {}
    depths: dict[str, int] = {}
    for entry in timings:
        for label, (*figures, depth) in entry.get("steps", {}).items():
            total = steps.setdefault(label, [0.0, 0.0, 0.0, 0.0])
            depths[label] = max(depths.get(label, 0), int(depth))
            for n, figure in enumerate(figures):
                total[n] += figure
    if steps:
        print(f"  {'steps (with their SQL; +: inside the one above)':<48} {'wall ms':>8} {'CPU ms':>8} {'SQL ms':>8} "
              f"{'queries':>8}")
        covered = [0.0, 0.0]
        for label, (wall, cpu, sql, statements) in steps.items():
            if not depths[label]:  # a step inside another is in that one's figures already
                covered[0] += wall
                covered[1] += cpu
            shown = ("  + " if depths[label] else "") + label
            print(f"    {shown:<46} {wall / count:8.2f} {cpu / count:8.2f} {sql / count:8.2f} "
                  f"{statements / count:8.1f}")
        rest = "the rest: Flask, WSGI, pool checkout and return"
        print(f"    {rest:<46} {mean('wall_ms') - covered[0] / count:8.2f} {mean('cpu_ms') - covered[1] / count:8.2f}")
    slow: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    for entry in timings:
        for statement, ms, n in entry.get("by_statement", []):
            slow[statement] += ms
            calls[statement] += n
    if slow:
        print("  SQL statements, mean ms per request (count per request):")
        for statement, ms in slow.most_common(12):
            print(f"    {ms / count:7.2f} ms ({calls[statement] / count:4.1f}x)  {statement}")


# --------------------------------------------------------------------------------------------------
# The run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each measured round (default 10)")
    parser.add_argument("--connections", type=int, default=16, help="connections of the rate rounds (default 16)")
    parser.add_argument("--peak-connections", type=int, default=200, help="connections of the error round (200)")
    parser.add_argument("--timeout", type=int, default=30, help="seconds without an answer that count as an "
                        "error (default 30)")
    add_server_arguments(parser)
    parser.add_argument("--profile", type=int, nargs="?", const=200, default=0, metavar="REQUESTS",
                        help="afterwards, profile the bare page and /me, kept and first view (200 requests each)")
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 600 or args.items < 20 or args.connections < 1 or args.peak_connections < 1:
        parser.error("--seconds 1..600, --items at least 20, --connections and --peak-connections at least 1")
    redis_url = f"{REDIS_HOST}/{REDIS_DB}"
    if cannot_run("bench/pages.py", args.database_url, redis_url):
        return 2

    order = ("bare", "home", "statement", "overview", "overview_cold", "sign_in")
    with serving(server_url=args.database_url, redis_url=redis_url, items=args.items, workers=args.workers,
                 max_requests=None, prefix="portal-bench-pages-") as stack:
        chosen = pages(stack)
        check_pages(stack, list(chosen.values()))
        print(f"data: one person, {stack.person.items:,} data items under 2 relations, 2 consents; database: "
              f"PostgreSQL, scratch database {stack.database_url.rsplit('/', 1)[-1]}; limits: Redis db {REDIS_DB}; "
              f"mail: aiosmtpd sink on 127.0.0.1:{stack.mail.port} (set up in {stack.setup_seconds:.1f} s)")
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} before the run "
              "(other work on these cores slows every page, not always equally)")
        print(f"server: gunicorn -c gunicorn.conf.py, {stack.workers} sync workers, max_requests {stack.max_requests} "
              f"(+jitter), PORTAL_ENV=production, 127.0.0.1:{stack.port}; load: wrk, {args.connections} connections "
              f"for {args.seconds} s per round, then {args.peak_connections}; timeout {args.timeout} s")

        for key in order:  # unmeasured: every worker compiles its templates and opens its connections
            run_wrk(stack, [chosen[key]], seconds=WARM_UP_SECONDS, connections=args.connections,
                    timeout=args.timeout)
        rounds: dict[str, list[Load]] = {key: [] for key in order}
        for key in (*order, *reversed(order)):
            result = run_wrk(stack, [chosen[key]], seconds=args.seconds, connections=args.connections,
                             timeout=args.timeout)
            rounds[key].append(result)
            print(f"  {result.label:<36} {result.connections:>4} conn {result.rate:>8,.0f} requests/s, p99 "
                  f"{result.p99:7.1f} ms, {result.cpu_per_request:5.1f} ms worker CPU per request, errors: "
                  f"{result.describe_errors()}")
        peak: dict[str, Load] = {}
        for key in order:
            # Long enough for every connection to be answered several times at the page's measured rate: a
            # round shorter than the queue's wait would end with most requests still waiting, unjudged.
            rate = max(load.rate for load in rounds[key])
            seconds = min(PEAK_SECONDS_MAX, max(args.seconds, math.ceil(PEAK_TURNS * args.peak_connections / rate)))
            result = run_wrk(stack, [chosen[key]], seconds=seconds, connections=args.peak_connections,
                             timeout=args.timeout)
            peak[key] = result
            print(f"  {result.label:<36} {result.connections:>4} conn {result.rate:>8,.0f} requests/s, p99 "
                  f"{result.p99:7.1f} ms, max {result.max:7.1f} ms, {seconds} s, errors: {result.describe_errors()}")
        time.sleep(2)  # the last sign-in mails leave the outbox
        signins = sum(load.requests for load in (*rounds["sign_in"], peak["sign_in"]))
        mails = stack.mail.received
        logged = read_log(stack.log)
        viewed = audit_entries(stack)
        if args.profile:
            profile(stack, args.profile)

    best = {key: max(results, key=lambda load: load.rate) for key, results in rounds.items()}
    bare = best["bare"]
    print()
    print(f"{'page (better of 2 rounds)':<36} {'conn':>5} {'requests/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'x bare':>7} {'CPU ms/req':>10} {'CPU x bare':>10} {'errors':>7}")
    for load in best.values():
        print(f"{load.label:<36} {load.connections:>5} {load.rate:>10,.0f} {load.p50:>8.1f} {load.p99:>8.1f} "
              f"{load.rate / bare.rate:>7.2f} {load.cpu_per_request:>10.2f} "
              f"{load.cpu_per_request / bare.cpu_per_request:>10.1f} {load.errors:>7,}")
    print()
    print(f"{'page at ' + str(args.peak_connections) + ' connections':<36} {'conn':>5} {'requests/s':>10} "
          f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'seconds':>8} {'answers':>9} {'errors':>7}")
    for load in peak.values():
        print(f"{load.label:<36} {load.connections:>5} {load.rate:>10,.0f} {load.p50:>8.1f} {load.p99:>8.1f} "
              f"{load.max:>8.1f} {load.seconds:>8.0f} {load.requests:>9,} {load.errors:>7,}")
    print()
    all_loads = [*(load for results in rounds.values() for load in results), *peak.values()]
    print(f"server log: {logged.requests:,} requests logged, statuses {dict(sorted(logged.statuses.items()))}; "
          f"{len(logged.problems)} error lines{':' if logged.problems else ''}")
    for line in logged.problems[:10]:
        print(f"  {line}")
    print(f"sign-in: {signins:,} measured POSTs, each with its own address and client; the sink received "
          f"{mails:,} mails in all (checks and warm-up included)")
    print(f"audit trail: {viewed:,} entries about the signed-in person at the end (views of the overview are "
          "written once per session per quarter hour)")
    print()

    ratio = best["overview"].rate / bare.rate
    unjudged = [load.label for load in peak.values() if not load.judged]
    peak_errors = sum(load.errors for load in peak.values())
    peak_requests = sum(load.requests for load in peak.values())
    other_errors = sum(load.errors for load in all_loads) - peak_errors
    verdicts = [
        (ratio >= GOAL_RATIO, f"overview at least {GOAL_RATIO:g}x the bare page's rate: {ratio:.2f}x "
                              f"({best['overview'].rate:,.0f} vs {bare.rate:,.0f} requests/s; worker CPU per request "
                              f"{best['overview'].cpu_per_request / bare.cpu_per_request:.1f}x the bare page's)"),
        (peak_errors == 0 and not unjudged,
         f"no error at {args.peak_connections} concurrent connections: {peak_errors:,} errors in "
         f"{peak_requests:,} answers over {len(peak)} pages"
         + "".join(f"; {load.label}: {load.describe_errors()}" for load in peak.values() if load.errors)
         + (f"; fewer answers than connections, not judged: {', '.join(unjudged)}" if unjudged else "")),
    ]
    for passed, line in verdicts:
        print(f"{'PASS' if passed else 'FAIL'}  {line}")
    if other_errors:
        print(f"note: {other_errors:,} errors in the rounds at {args.connections} connections")

    conn = f"{args.connections} conn"
    for key, load in best.items():
        if key == "bare":
            record("pages", f"bare page: requests/s ({conn})", load.rate, "req/s")
            continue
        goal = f">= {GOAL_RATIO:g}x bare" if key == "overview" else None
        record("pages", f"{load.label.split(' (')[0]}: requests/s ({conn})", load.rate, "req/s", baseline=bare.rate,
               goal=goal, passed=(ratio >= GOAL_RATIO) if key == "overview" else None)
    for key, load in best.items():
        if key != "bare":
            record("pages", f"{load.label.split(' (')[0]}: p99 ({conn})", load.p99, "ms", baseline=bare.p99)
    record("pages", f"errors at {args.peak_connections} connections, all pages", peak_errors, "errors",
           goal="0", passed=peak_errors == 0 and not unjudged)
    return 0


if __name__ == "__main__":
    sys.exit(main())
