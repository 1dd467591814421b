"""`bench.wsgi_bench:app`, timed per request or under cProfile: where a page's time goes under gunicorn.

Served by `bench/pages.py --profile` (one worker, one request at a time) with:
- `BENCH_PROFILE_DIR`: the folder the measurements go to;
- `BENCH_PROFILE_MODE=timings`: per request, one JSON line in `timings-<pid>.jsonl`: the WSGI call's wall
  and thread CPU time (to the last byte of the body), the time in `cursor.execute` per statement, in
  COMMIT and in the ROLLBACK the pool sends when a connection comes back, in `render_template`, and
  the response size, and the wall time, CPU time and SQL of each step of the page (`STEPS`: the
  session lookup, build_overview, the audit entry, render_template, ...). Cheap hooks, so that the
  figures stay close to an unprofiled request;
- `BENCH_PROFILE_MODE=cprofile`: every request under one cProfile profiler, written to
  `cprofile-<pid>.prof` by `GET /bench/profile/dump`.
`GET /bench/profile/reset` forgets what was measured so far (after the warm-up requests).
"""

from __future__ import annotations

import cProfile
import importlib
import json
import os
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flask import before_render_template, template_rendered
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench.wsgi_bench import app

FOLDER = Path(os.environ.get("BENCH_PROFILE_DIR", "."))
MODE = os.environ.get("BENCH_PROFILE_MODE", "timings")
CONTROL = "/bench/profile/"
SPACES = re.compile(r"\s+")

profiler = cProfile.Profile()
current: dict[str, Any] = {}


def _timings_file() -> Path:
    return FOLDER / f"timings-{os.getpid()}.jsonl"


def _statement(sql: str) -> str:
    return SPACES.sub(" ", sql).strip()[:110]


@event.listens_for(Engine, "before_cursor_execute")
def _before_execute(_conn: Any, _cursor: Any, _statement_text: str, *_args: Any) -> None:
    current["sql_started"] = time.perf_counter()


@event.listens_for(Engine, "after_cursor_execute")
def _after_execute(_conn: Any, _cursor: Any, statement_text: str, *_args: Any) -> None:
    if "sql_ms" not in current or "sql_started" not in current:
        return
    elapsed = (time.perf_counter() - current.pop("sql_started")) * 1000
    current["sql_ms"] += elapsed
    current["statements"] += 1
    if "render_started" in current:  # a query the template makes (a lazy load): SQL, not template time
        current["sql_in_render_ms"] += elapsed
    key = _statement(statement_text)
    ms, count = current["by_statement"].get(key, (0.0, 0))
    current["by_statement"][key] = (ms + elapsed, count + 1)


def _timed(name: str, original: Callable[[Any], None]) -> Callable[[Any], None]:
    def call(dbapi_connection: Any) -> None:
        started = time.perf_counter()
        try:
            original(dbapi_connection)
        finally:
            if name in current:
                current[name] += (time.perf_counter() - started) * 1000
                current[name.replace("_ms", "s")] = current.get(name.replace("_ms", "s"), 0) + 1
    return call


dialect = app.extensions["portal.db"].engine.dialect
dialect.do_commit = _timed("commit_ms", dialect.do_commit)
dialect.do_rollback = _timed("rollback_ms", dialect.do_rollback)


# The steps of a page, each timed (wall and thread CPU) with the SQL it ran: patched where the views look
# them up, so the portal's code stays as it is. A step's time includes its SQL; "rest" is what no step covers.
STEPS = (
    ("portal.services.signin", "current_session", "session lookup (Flask-Login user loader)"),
    ("portal.services.revisions", "overview_state", "overview_state (the kept body's key)"),
    ("portal.account.routes", "build_overview", "build_overview (the person's data, explained)"),
    ("portal.trail", "note", "trail.note (audit entry + COMMIT)"),
    ("portal.account.routes", "unseen_changes", "unseen_changes (statement versions seen)"),
    ("portal.account.routes", "build_timeline", "build_timeline"),
    ("portal.account.routes", "addresses_of", "addresses_of (earlier addresses)"),
    ("portal.account.routes", "entries_about", "entries_about (the company's audit entries)"),
    ("portal.account.routes", "render_template", "render_template: the body if rendered, the layout"),
    ("bench.wsgi_bench", "render_template", "render_template bare"),
)


def _step(label: str, original: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        if "steps" not in current:
            return original(*args, **kwargs)
        wall, cpu = time.perf_counter(), time.thread_time()
        sql, statements = current["sql_ms"], current["statements"]
        depth = current.get("depth", 0)  # a step inside another (the user loader inside render_template)
        current["depth"] = depth + 1
        entry = current["steps"].setdefault(label, [0.0, 0.0, 0.0, 0, depth])  # in the order the steps begin
        try:
            return original(*args, **kwargs)
        finally:
            current["depth"] = depth
            entry[0] += (time.perf_counter() - wall) * 1000
            entry[1] += (time.thread_time() - cpu) * 1000
            entry[2] += current["sql_ms"] - sql
            entry[3] += current["statements"] - statements
    return call


for module_name, attribute, label in STEPS:
    module = importlib.import_module(module_name)
    setattr(module, attribute, _step(label, getattr(module, attribute)))


@before_render_template.connect_via(app)
def _render_started(_sender: Any, **_extra: Any) -> None:
    current["render_started"] = time.perf_counter()


@template_rendered.connect_via(app)
def _render_done(_sender: Any, **_extra: Any) -> None:
    if "render_ms" in current and "render_started" in current:
        current["render_ms"] += (time.perf_counter() - current.pop("render_started")) * 1000


@app.get(CONTROL + "reset")
def reset() -> str:
    global profiler
    profiler = cProfile.Profile()
    _timings_file().unlink(missing_ok=True)
    return "reset\n"


@app.get(CONTROL + "dump")
def dump() -> str:
    if MODE == "cprofile":
        profiler.dump_stats(str(FOLDER / f"cprofile-{os.getpid()}.prof"))
    return "dumped\n"


inner = app.wsgi_app


def measured(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The WSGI call, its body consumed here so that lazy work inside the body is counted too."""
    if environ.get("PATH_INFO", "").startswith(CONTROL):
        return inner(environ, start_response)
    current.clear()
    current.update(sql_ms=0.0, statements=0, commit_ms=0.0, rollback_ms=0.0, render_ms=0.0, sql_in_render_ms=0.0,
                   by_statement={}, steps={})
    wall, cpu = time.perf_counter(), time.thread_time()
    if MODE == "cprofile":
        profiler.enable()
    try:
        result = inner(environ, start_response)
        body = b"".join(result)
        if hasattr(result, "close"):
            result.close()
    finally:
        if MODE == "cprofile":
            profiler.disable()
    wall_ms, cpu_ms = (time.perf_counter() - wall) * 1000, (time.thread_time() - cpu) * 1000
    if MODE == "timings":
        line = {
            "wall_ms": wall_ms, "cpu_ms": cpu_ms, "sql_ms": current["sql_ms"], "statements": current["statements"],
            "commit_ms": current["commit_ms"], "commits": current.get("commits", 0),
            "rollback_ms": current["rollback_ms"], "render_ms": current["render_ms"] - current["sql_in_render_ms"],
            "sql_in_render_ms": current["sql_in_render_ms"],
            "rest_ms": wall_ms - current["sql_ms"] - current["commit_ms"] - current["rollback_ms"]
            - (current["render_ms"] - current["sql_in_render_ms"]),
            "bytes": len(body), "by_statement": [[sql, ms, n] for sql, (ms, n) in current["by_statement"].items()],
            "steps": current["steps"],
        }
        with _timings_file().open("a") as out:
            out.write(json.dumps(line) + "\n")
    current.clear()
    return [body]


app.wsgi_app = measured  # type: ignore[method-assign]
