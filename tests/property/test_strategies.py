"""The strategies themselves: each draws only what its name and docstring promise.

A property test is only as good as its input: a "malformed" address that is in fact a good one fails a test
by the luck of the draw (`0@0.aa` once failed `make test`), and a "control" text without a control proves
nothing. These tests draw many examples of each strategy, without the app, and judge them by small checks
written here from the documented rules, never by the product's own code (that would prove it right by
itself).
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.strategies import (
    ANY_CHARACTER,
    CONTROLS,
    EMOJI_SEQUENCES,
    FORBIDDEN_IN_ADDRESSES,
    HARD_CONTROLS,
    INTERNATIONAL_ADDRESSES,
    MALFORMED_EMAILS_FIXED,
    WHITESPACE_ONLY,
    at_most,
    free_text,
    listed,
    malformed_emails,
    mixed_script,
    oversized,
    oversized_emails,
    plausible_emails,
    with_a_digit_ending_the_domain,
    with_a_display_name,
    with_a_doubled_at,
    with_a_forbidden_character,
    with_controls,
    without_a_top_level_domain,
    without_the_at,
)

# Strategies cost little without the app: many examples for the addresses (the promise that broke: about
# one draw of `malformed_emails` in thirty was a good address), enough for the promises kept by construction.
MANY = settings(max_examples=500)
SOME = settings(max_examples=150)
FEW = settings(max_examples=40)


def one_address(text: str, *, max_length: int | None = 254) -> bool:
    """Whether `text`, trimmed, is exactly one address by the documented rule (docs/import-format.md).

    A local part of dot-separated non-empty pieces without white space, control or format characters or any
    of , ; : < > ( ) [ ] " \\; one @; two or more domain labels of letters, digits and inner hyphens; a
    top-level domain of two or more letters.
    """
    address = text.strip()
    if max_length is not None and len(address) > max_length:
        return False
    if any(c.isspace() or c in FORBIDDEN_IN_ADDRESSES or unicodedata.category(c) in ("Cc", "Cf", "Cs")
           for c in address):
        return False
    local, at, domain = address.partition("@")
    if not at or "@" in domain or "" in local.split("."):
        return False
    *labels, top = domain.split(".")
    if not labels or not (len(top) >= 2 and top.isalpha()):
        return False
    return all(label and label[0] != "-" and label[-1] != "-" and label.replace("-", "").isalnum()
               for label in labels)


# --- the judge, judged -------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["a@b.cd", "An.Peeters@Example.COM", " x+y@a-b.c.de\n", "0@0.aa",
                                     *INTERNATIONAL_ADDRESSES])
def test_one_address_takes_an_address(address):
    assert one_address(address)


@pytest.mark.parametrize("text", MALFORMED_EMAILS_FIXED)
def test_one_address_refuses_every_fixed_malformed_address(text):
    assert not one_address(text)


# --- addresses ---------------------------------------------------------------------------------------------


@MANY
@given(malformed_emails())
def test_a_malformed_address_is_never_one_address(text):
    assert not one_address(text), text


GOOD = ["x@a.b.cc", "0@0.aa.bb", "0@0.aa", "An.Peeters@Mail.Example.COM"]


@pytest.mark.parametrize("good", GOOD)
@pytest.mark.parametrize("breaking", [without_the_at, with_a_doubled_at, without_a_top_level_domain,
                                      lambda a: listed(a, a, ", "), lambda a: with_a_display_name("An", a),
                                      lambda a: with_a_digit_ending_the_domain(a, 0),
                                      lambda a: with_a_forbidden_character(a, ":")],
                         ids=["without_the_at", "with_a_doubled_at", "without_a_top_level_domain", "listed",
                              "with_a_display_name", "with_a_digit_ending_the_domain", "with_a_forbidden_character"])
def test_every_way_of_breaking_a_good_address_breaks_it_whatever_its_domain(good, breaking):
    assert one_address(good)
    assert not one_address(breaking(good)), breaking(good)


def test_an_address_without_a_top_level_domain_has_no_dot_left_in_its_domain():
    # The draw that failed `make test`: the last label cut off `0@0.aa.bb` left the address `0@0.aa`.
    assert without_a_top_level_domain("0@0.aa.bb") == "0@0aabb"
    assert without_a_top_level_domain("x@a.b.cc") == "x@abcc"
    assert without_a_top_level_domain("a.b@c.de") == "a.b@cde"


@MANY
@given(plausible_emails())
def test_a_plausible_address_is_one_address_perhaps_with_white_space_around(text):
    assert one_address(text), text
    assert text.strip() == text.strip(" \t\n")  # only the white space a person types around an address


def test_plausible_addresses_come_in_any_capitals_the_domain_included():
    capitals = set()

    @FEW
    @given(plausible_emails())
    def collect(text):
        domain = text.strip().partition("@")[2]
        capitals.add(domain != domain.lower())

    collect()
    assert capitals == {True, False}


@SOME
@given(oversized_emails())
def test_an_oversized_address_is_well_formed_and_too_long_only(text):
    assert len(text) > 254
    assert one_address(text, max_length=None), text
    local, _, domain = text.partition("@")
    assert len(local) <= 64 and len(domain) <= 253 and max(len(label) for label in domain.split(".")) <= 63


# --- text --------------------------------------------------------------------------------------------------

LIMITS = st.sampled_from([1, 2, 20, 100, 254, 4000])


@SOME
@given(limit=LIMITS, text=st.data())
def test_oversized_text_is_always_longer_than_its_limit(limit, text):
    alphabet = text.draw(st.one_of(st.none(), st.just(st.sampled_from("0123456789"))), label="alphabet")
    drawn = text.draw(oversized(limit, alphabet=alphabet), label="text")
    assert limit < len(drawn) <= limit * 3 + 10
    if alphabet is not None:
        assert set(drawn) <= set("0123456789")


@SOME
@given(limit=LIMITS, text=st.data())
def test_at_most_is_the_limit_or_a_little_under(limit, text):
    drawn = text.draw(at_most(limit), label="text")
    assert max(limit - 3, 1) <= len(drawn) <= limit


def test_at_most_reaches_the_limit_itself():
    lengths = set()

    @FEW
    @given(at_most(50))
    def collect(text):
        lengths.add(len(text))

    collect()
    assert 50 in lengths


@SOME
@given(sizes=st.tuples(st.integers(1, 10), st.integers(0, 40)).map(lambda t: (t[0], t[0] + t[1])), text=st.data())
def test_text_with_controls_holds_a_control_and_keeps_to_its_size(sizes, text):
    min_size, max_size = sizes
    drawn = text.draw(with_controls(min_size, max_size), label="text")
    assert any(c in CONTROLS for c in drawn), repr(drawn)
    assert min_size <= len(drawn) <= max_size


# Where mixed-script characters come from: the blocks of strategies.py, visible characters only.
BLOCKS = [(0x20, 0x24F), (0x400, 0x4FF), (0x600, 0x6FF), (0x4E00, 0x9FFF), (0x1F300, 0x1FAFF), (0x300, 0x36F)]
IN_SEQUENCES = set("".join(EMOJI_SEQUENCES))


@SOME
@given(mixed_script())
def test_mixed_script_text_holds_script_characters_and_emoji_only(text):
    assert text
    for char in set(text) - IN_SEQUENCES:
        assert any(first <= ord(char) <= last for first, last in BLOCKS), f"U+{ord(char):04X}"
        assert not unicodedata.category(char).startswith("C"), f"U+{ord(char):04X}"


@SOME
@given(WHITESPACE_ONLY)
def test_white_space_only_is_white_space_only(text):
    assert text.strip() == ""


@pytest.mark.parametrize("char", CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_a_control_is_a_control_format_or_separator_character_and_never_nul(char):
    assert char != "\x00"
    assert unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")
    hard = char in HARD_CONTROLS
    assert hard is not char.isspace()
    assert hard is not bool(re.fullmatch(r"\s", char))  # what str.strip() keeps, the regex \s does not match


# --- what the module promises of every general strategy ----------------------------------------------------

GENERAL = {"free_text": free_text(20), "mixed_script": mixed_script(), "with_controls": with_controls(),
           "oversized": oversized(50), "at_most": at_most(50), "WHITESPACE_ONLY": WHITESPACE_ONLY,
           "ANY_CHARACTER": ANY_CHARACTER, "plausible_emails": plausible_emails(),
           "malformed_emails": malformed_emails(), "oversized_emails": oversized_emails()}


@pytest.mark.parametrize("name", GENERAL)
def test_no_strategy_draws_nul_or_a_lone_surrogate(name):
    @FEW
    @given(GENERAL[name])
    def check(text):
        assert "\x00" not in text
        text.encode("utf-8")  # a lone surrogate cannot be encoded

    check()


# --- the profile -------------------------------------------------------------------------------------------


def test_the_profile_is_the_one_asked_for_and_ci_by_default():
    # Compared by what it sets: pytest's --hypothesis-verbosity loads a copy under another name.
    asked = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
    assert (settings.default.derandomize, settings.default.max_examples) == (asked.derandomize, asked.max_examples)
    assert settings.get_profile("ci").derandomize and settings.get_profile("ci").database is None
    assert not settings.get_profile("fuzz").derandomize


PROPERTY_MODULES = sorted(path.stem for path in Path(__file__).parent.glob("test_*.py"))


@pytest.mark.parametrize("module", PROPERTY_MODULES)
def test_no_property_test_turns_the_profiles_derandomize_off(module):
    """A test's own `@settings` must keep the profile's seed: under "ci", every run draws the same examples."""
    tests = [value for value in vars(importlib.import_module(f"tests.property.{module}")).values()
             if inspect.isfunction(value) and getattr(value, "is_hypothesis_test", False)]
    assert tests or module == "test_strategies"
    for test in tests:
        chosen = test._hypothesis_internal_use_settings
        assert (chosen.derandomize, chosen.database) == (settings.default.derandomize, None), test.__name__
