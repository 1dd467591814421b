"""E-mail addresses as the portal compares them: exactly one address, trimmed and in lower case."""

from __future__ import annotations

import re
import unicodedata

MAX_LENGTH = 254
# One address, nothing else: no lists (a@x.be,b@y.be), no display names, no spaces or quotes.
_ADDRESS = re.compile(r"^[^\s@,;:<>()\[\]\"\\]+@(?:[^\W_](?:(?:[^\W_]|-)*[^\W_])?\.)+[^\W\d_]{2,}$")


class InvalidEmail(ValueError):
    """Not exactly one plausible e-mail address."""


def normalise_email(raw: str) -> str:
    """The address in the form we store and compare, or `InvalidEmail`.

    Addresses are compared case-insensitively (statement 2.4 verifies control of the address we hold,
    whatever its capitals), so the whole address is lower-cased.
    """
    address = raw.strip().lower()
    if len(address) > MAX_LENGTH or not _ADDRESS.fullmatch(address):
        raise InvalidEmail(raw)
    # No control, format (bidi overrides, zero-width) or unpaired surrogate characters: they hide what an
    # address really is from the person reading it, and a mail server would refuse them anyway.
    if any(unicodedata.category(char) in ("Cc", "Cf", "Cs") for char in address):
        raise InvalidEmail(raw)
    local, _, _domain = address.partition("@")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise InvalidEmail(raw)
    return address
