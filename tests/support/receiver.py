"""A company system's webhook receiver on 127.0.0.1, as a system would build it: every event's signature
verified with the standardwebhooks library, every event kept by its webhook-id, answers as a test tells it.

It listens on a fixed port that a test may stop and start again (the system is down, then back).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError


def new_secret() -> str:
    """A Standard Webhooks secret: whsec_ and base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class Received:
    webhook_id: str
    timestamp: int
    event: dict
    status: int  # what the receiver answered


class Receiver:
    """Verifies each POST with `secret`; answers `answer(webhook_id, attempt)` (default 200); 401 when forged."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.verifier = Webhook(secret)
        self.answer: Callable[[str, int], int] = lambda _id, _attempt: 200
        self.received: list[Received] = []
        self.forged = 0
        self._server: ThreadingHTTPServer | None = None
        self._changed = threading.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/privacy-portal"

    def ids(self) -> list[str]:
        return [r.webhook_id for r in self.received]

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects

            def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    event = receiver.verifier.verify(body, dict(self.headers.items()))
                except WebhookVerificationError:
                    status = 401
                    with receiver._changed:
                        receiver.forged += 1
                else:
                    webhook_id = self.headers["webhook-id"]
                    with receiver._changed:
                        attempt = receiver.ids().count(webhook_id) + 1
                        status = receiver.answer(webhook_id, attempt)
                        receiver.received.append(Received(webhook_id, int(self.headers["webhook-timestamp"]),
                                                          event, status))
                        receiver._changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet in test output
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        """Block until `count` events arrived (or fail); returns them all."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} event(s) at the receiver, got {len(self.received)}")
                self._changed.wait(remaining)
            return list(self.received)


def signed(secret: str, message_id: str, body: dict) -> tuple[bytes, dict[str, str]]:
    """A system's signed call-back: the JSON body and the Standard Webhooks headers, signed now."""
    raw = json.dumps(body)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return raw.encode(), {"webhook-id": message_id, "webhook-timestamp": str(int(now.timestamp())),
                          "webhook-signature": Webhook(secret).sign(message_id, now, raw),
                          "content-type": "application/json"}
