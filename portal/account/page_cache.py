"""The overview's rendered body, kept per worker and found again only while nothing it shows has moved.

The key holds everything the body is made of: whose page (address and subject row), their revision and
the shared generation (portal/services/revisions.py: any write to what the page shows moves one of
them), the page's language, the day (retention dates and the timeline read it), the register, and the
path the portal is served under. Forms in the body carry markers instead of their CSRF token and
idempotency key, filled in for every answer: those belong to the browser's session, never to the page.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping

from markupsafe import Markup

# Markers in a kept body, replaced for every answer. Escaped data can never produce them: a value's "<"
# is written as "&lt;".
CSRF_FIELD = Markup("<!--portal:csrf-field-->")
KEY_FIELD = Markup("<!--portal:key-field-->")


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


def fill_forms(body: Markup, fields: Mapping[Markup, Callable[[], Markup]]) -> Markup:
    """The body with every marker replaced by fresh fields: each occurrence gets its own call (a form's key)."""
    for marker, field in fields.items():
        parts = body.split(marker)
        if len(parts) > 1:
            filled = [parts[0]]
            for part in parts[1:]:
                filled.extend((field(), part))
            body = Markup("").join(filled)
    return body
