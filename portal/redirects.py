"""Redirect targets taken from user input: only paths of our own site, never another host."""

from __future__ import annotations

from urllib.parse import urlsplit


def safe_next(target: str | None, default: str = "/") -> str:
    """`target` when it is a path on this site (e.g. `/statement?x=1`), else `default`.

    Refuses absolute URLs, scheme-relative `//host` and `/\\host` (browsers treat a backslash as a
    slash), and control characters that some browsers strip before parsing.
    """
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ord(char) < 32 or char == "\\" for char in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
