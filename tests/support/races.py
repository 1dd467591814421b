"""Forcing the interleaving a race needs, on the real database: everyone has read, nobody has written yet."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

from sqlalchemy import Engine, event


@contextlib.contextmanager
def all_reach_then_go(engine: Engine, threads: int, matches: Callable[[str], bool],
                      timeout: float = 2.0) -> Iterator[None]:
    """Hold each thread at its first statement that `matches` until all `threads` are there (or `timeout`).

    A correct implementation may keep some threads from ever getting there (PostgreSQL's row locks,
    SKIP LOCKED): then the others go on after `timeout`.
    """
    gate = threading.Barrier(threads, timeout=timeout)
    held = threading.local()

    def hold(_conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if matches(statement) and not getattr(held, "done", False):
            held.done = True
            with contextlib.suppress(threading.BrokenBarrierError):
                gate.wait()

    event.listen(engine, "before_cursor_execute", hold)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", hold)


def run_together(count: int, work: Callable[[int], object]) -> list[object]:
    """Run `work(0..count-1)` in as many threads at once; returns each result or the exception it raised."""
    results: list[object] = [None] * count

    def run(index: int) -> None:
        try:
            results[index] = work(index)
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test looks at
            results[index] = exc

    workers = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    return results
