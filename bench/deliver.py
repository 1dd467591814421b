"""`deliver-events` work: 10,000 webhook instructions signed, posted and recorded, beside a bare loop of POSTs.

Run:  .venv/bin/python bench/deliver.py [--events 10000] [--database-url URL]

A receiver on 127.0.0.1 (http.server, keep-alive, in its own process so it does not share this one's GIL)
answers 200 to everything. In a scratch database (PostgreSQL at `DEFAULT_POSTGRES` when it answers, else
SQLite) N pending instructions of one webhook system, each an erasure event of the size carry_out writes,
are delivered by `services.webhooks.deliver_due` as the worker runs it: claimed in batches, each signed
(Standard Webhooks), posted and confirmed (its row, its audit entry, its commit). The baseline, in the same
run: one httpx client posting the same N bodies to the same receiver, nothing signed, nothing recorded. The
ratio says what the portal's bookkeeping costs over the network's floor; no goal, the figure is INFO.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing
from bench.common import DEFAULT_POSTGRES, answers, free_port, measured, temporary_database  # noqa: E402
from bench.results import record  # noqa: E402
from portal.clock import utcnow  # noqa: E402
from portal.config import WebhookEndpoint  # noqa: E402
from portal.database import Database  # noqa: E402
from portal.models import Instruction  # noqa: E402
from portal.policy.register import default_register  # noqa: E402
from portal.services import audit  # noqa: E402
from portal.services.context import Context  # noqa: E402
from portal.services.webhooks import Webhooks, deliver_due  # noqa: E402

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # a fixed test secret of 24 bytes
SYSTEM = "newsletter"


class Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def serve(port: int) -> None:
    ThreadingHTTPServer(("127.0.0.1", port), Answer).serve_forever()


def payload(n: int, now: dt.datetime) -> dict[str, object]:
    event_id = f"msg_{n:024x}"
    data = {"event_id": event_id, "system": SYSTEM, "subject": {"email": f"person.{n:07d}@example.com"},
            "request": None, "erase": [{"relation": "visitor", "category": "contact", "items": 3}],
            "keep": [{"relation": "customer", "category": "payment", "items": 2, "until": "2033-12-31",
                      "reason": "legal_obligation"}]}
    body = json.dumps({"type": "data.erased", "timestamp": now.isoformat(timespec="seconds") + "Z", "data": data},
                      sort_keys=True, separators=(",", ":"))
    return {"event_id": event_id, "party_kind": "system", "party": SYSTEM, "delivery": "webhook",
            "event_type": "data.erased", "subject_email": data["subject"]["email"], "request_id": None,  # type: ignore[index]
            "payload": body, "status": "pending", "attempts": 0, "created_at": now, "next_attempt_at": now}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url or (DEFAULT_POSTGRES if answers(DEFAULT_POSTGRES) else "sqlite")
    port = free_port()
    receiver = multiprocessing.Process(target=serve, args=(port,), daemon=True)
    receiver.start()
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    target = f"http://127.0.0.1:{port}/hooks/privacy-portal"
    try:
        with temporary_database(url) as scratch:
            database = Database(scratch)
            database.migrate()
            now = utcnow() - dt.timedelta(seconds=1)
            rows = [payload(n, now) for n in range(args.events)]
            with database.session() as session:
                session.execute(insert(Instruction), rows)
                session.commit()
            with httpx.Client(timeout=10) as client, measured() as bare:
                for row in rows:
                    client.post(target, content=str(row["payload"]).encode(),
                                headers={"content-type": "application/json"}).raise_for_status()
            register = default_register()
            webhooks = Webhooks({f"system:{SYSTEM}": WebhookEndpoint(target, SECRET)})

            def context() -> Context:
                return Context(actor=audit.SYSTEM, register=register, now=utcnow(), today=dt.date.today())

            with measured() as portal:
                report = deliver_due(database.sessions, webhooks, context=context)
            with database.session() as session:
                done = session.scalar(select(func.count()).where(Instruction.status == "done"))
            database.dispose()
    finally:
        receiver.terminate()
    assert report.done == done == args.events, (report, done)
    where = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    ratio = portal["seconds"] / bare["seconds"]
    print(f"{args.events:,} events on {where}: bare POST loop {bare['seconds']:.2f} s "
          f"({bare['seconds'] / args.events * 1e3:.2f} ms each); deliver_due {portal['seconds']:.2f} s "
          f"({portal['seconds'] / args.events * 1e3:.2f} ms each, CPU {portal['cpu']:.2f} s); ratio {ratio:.2f}x")
    record("deliver", f"{args.events:,} webhook events delivered ({where})", portal["seconds"], "s",
           baseline=bare["seconds"])


if __name__ == "__main__":
    main()
