"""The overview's rendered body, kept per worker and found again only while nothing it shows has moved.

The key holds everything the body is made of: whose page (address and subject row), their revision and
the shared generation (portal/services/revisions.py: any write to what the page shows moves one of
them), the page's language, the day (retention dates and the timeline read it), the register, and the
path the portal is served under. Forms in the body carry a marker instead of their CSRF token and
idempotency key, filled in for every answer: those belong to the browser's session, never to the page.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from markupsafe import Markup

# Escaped data can never produce this: a value's "<" is written as "&lt;".
FORM_FIELDS = Markup("<!--portal:form-fields-->")


class PageCache:
    """A small LRU of rendered bodies, bounded in entries and in characters."""

    def __init__(self, *, max_entries: int = 256, max_chars: int = 8_000_000) -> None:
        self._bodies: OrderedDict[Hashable, Markup] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()  # the live test server and threaded workers share one cache
        self.max_entries, self.max_chars = max_entries, max_chars
        self.hits = self.misses = 0

    def get_or_render(self, key: Hashable, render: Callable[[], Markup]) -> Markup:
        with self._lock:
            body = self._bodies.get(key)
            if body is not None:
                self._bodies.move_to_end(key)
                self.hits += 1
                return body
            self.misses += 1
        body = render()
        with self._lock:
            if key not in self._bodies and len(body) <= self.max_chars:
                self._bodies[key] = body
                self._chars += len(body)
                while len(self._bodies) > self.max_entries or self._chars > self.max_chars:
                    _key, dropped = self._bodies.popitem(last=False)
                    self._chars -= len(dropped)
        return body

    def __len__(self) -> int:
        return len(self._bodies)


def fill_forms(body: Markup, fields: Callable[[], Markup]) -> Markup:
    """The body with every form's marker replaced by fresh fields (a new idempotency key for each form)."""
    parts = body.split(FORM_FIELDS)
    if len(parts) == 1:
        return body
    filled = [parts[0]]
    for part in parts[1:]:
        filled.extend((fields(), part))
    return Markup("").join(filled)
