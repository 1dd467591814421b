"""Exactly one address, compared case-insensitively: lists and look-alikes are refused."""

from __future__ import annotations

import pytest

from portal.services.email_address import InvalidEmail, normalise_email


@pytest.mark.parametrize(("raw", "expected"), [
    ("an.peeters@example.com", "an.peeters@example.com"),
    ("  An.Peeters@Example.COM\n", "an.peeters@example.com"),
    ("jo+portal@sub.example.be", "jo+portal@sub.example.be"),
    ("élodie@exämple.be", "élodie@exämple.be"),
])
def test_valid_addresses_are_normalised(raw, expected):
    assert normalise_email(raw) == expected


@pytest.mark.parametrize("raw", [
    "a@x.be,b@y.be",           # the flaw of CVE-2022-35924: never two recipients
    "a@x.be;b@y.be",
    "a@x.be b@y.be",
    "An <an@example.com>",
    "an@example",
    "@example.com",
    "an@@example.com",
    "an.@example.com",
    "an..peeters@example.com",
    "",
    "a" * 250 + "@example.com",
    "an@exa_mple.com",
    "an@example.com\r\nBcc: x@evil.test",
])
def test_anything_but_one_address_is_refused(raw):
    with pytest.raises(InvalidEmail):
        normalise_email(raw)
