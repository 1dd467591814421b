"""Reading the mails the portal sent, as they arrived at the suite's SMTP server (the `inbox` fixture).

The mail sender works in its own thread: `wait_for_mail` waits for the mail to arrive, and `eventually`
waits for any other condition that another thread makes true (the outbox caught up, a connection returned).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest

SIGN_IN_LINK = re.compile(r"http://127\.0\.0\.1:5000(/sign-in/[A-Za-z0-9_-]{20,})")
CODE = re.compile(r": (\d{3} \d{3})\s*$", re.MULTILINE)


def eventually(check: Callable[[], Any], timeout: float = 5.0, message: str = "condition not reached"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(message)
        time.sleep(0.02)


def mails_to(inbox, address: str) -> list:
    return [message for message in list(inbox.messages) if message["To"] == address]


def wait_for_mail(inbox, address: str, count: int = 1):
    """The `count`-th mail to `address` (waits for it to arrive at the SMTP server)."""
    eventually(lambda: len(mails_to(inbox, address)) >= count, timeout=10,
               message=f"expected {count} mail(s) to {address}, got {len(mails_to(inbox, address))}")
    return mails_to(inbox, address)[count - 1]


def plain(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_part(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def link_in(message) -> str:
    match = SIGN_IN_LINK.search(plain(message))
    assert match, plain(message)
    return match.group(1)


def code_in(message) -> str:
    match = CODE.search(plain(message))
    assert match, plain(message)
    return match.group(1)
