"""Hostile input for the property tests: oversized, malformed, mixed-script and control-character text.

NUL (U+0000) and lone surrogates are left out of the general strategies on purpose: NUL is refused by
PostgreSQL's text columns and a lone surrogate cannot be encoded as UTF-8 at all, and what the portal
does with each is pinned down by dedicated tests (`test_nul_*`, `test_lone_surrogate*`), so that a
failure there names the bug instead of surfacing as a shrunk example somewhere else.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

# C0 controls but NUL, DEL, the C1 block, and the invisible characters that reorder or hide text: bidi
# embeddings, overrides and isolates (U+202E turns "exe.txt" into "txt.exe" on screen), zero-width
# characters, the byte-order mark and the Unicode line and paragraph separators.
C0 = [chr(code) for code in range(0x01, 0x20)]
C1 = [chr(code) for code in range(0x80, 0xA0)]
BIDI = ["\u200e", "\u200f", "\u061c", *(chr(c) for c in range(0x202A, 0x202F)),
        *(chr(c) for c in range(0x2066, 0x206A))]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u2028", "\u2029", "\u00ad"]
CONTROLS = [*C0, "\x7f", *C1, *BIDI, *INVISIBLE]
# Controls that Python's str.strip() and the regex class \s do not treat as white space: the ones a form
# cannot lose by trimming.
HARD_CONTROLS = [c for c in CONTROLS if not c.isspace()]


def _script(first: int, last: int) -> st.SearchStrategy[str]:
    # The letters, marks, digits, punctuation and symbols of a block. Format characters (the soft hyphen,
    # the Arabic letter mark) are `with_controls`'s business, and unassigned code points (a quarter of the
    # emoji blocks) are no script at all.
    return st.characters(min_codepoint=first, max_codepoint=last, exclude_categories=("Cs", "Cc", "Cf", "Cn"))


LATIN = _script(0x20, 0x24F)
CYRILLIC = _script(0x400, 0x4FF)
ARABIC = _script(0x600, 0x6FF)
CJK = _script(0x4E00, 0x9FFF)
EMOJI_CHARACTER = _script(0x1F300, 0x1FAFF)
COMBINING = _script(0x300, 0x36F)
# Emoji as people type them: joined families, skin tones, flags, keycaps.
EMOJI_SEQUENCES = ["👩‍💻", "👨‍👩‍👧‍👦", "👍🏽", "🇧🇪", "🏳️‍🌈", "1️⃣", "❤️"]
SCRIPTS = st.one_of(LATIN, CYRILLIC, ARABIC, CJK, EMOJI_CHARACTER, COMBINING, st.sampled_from(EMOJI_SEQUENCES))

# Any character a browser can send, except NUL and lone surrogates (see the module's docstring).
ANY_CHARACTER = st.characters(codec="utf-8", exclude_characters="\x00")


def mixed_script(min_size: int = 1, max_size: int = 60) -> st.SearchStrategy[str]:
    """Latin, Cyrillic, Arabic, CJK and emoji in one string, with combining marks in between.

    Sizes count pieces, and an emoji sequence is one piece of several characters.
    """
    return st.lists(SCRIPTS, min_size=min_size, max_size=max_size).map("".join)


def with_controls(min_size: int = 1, max_size: int = 40) -> st.SearchStrategy[str]:
    """Ordinary letters with control, bidi and invisible characters among them; at least one of those.

    `min_size` to `max_size` characters, the one control that is always there included.
    """
    return st.tuples(
        st.text(alphabet=st.one_of(LATIN, st.sampled_from(CONTROLS)), min_size=max(min_size - 1, 0),
                max_size=max_size - 1),
        st.sampled_from(CONTROLS), st.integers(min_value=0, max_value=max_size),
    ).map(lambda parts: parts[0][:parts[2]] + parts[1] + parts[0][parts[2]:])


def oversized(limit: int, *, alphabet: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[str]:
    """Text just over or far over `limit` characters, built by repeating a short random piece."""
    lengths = st.one_of(st.just(limit + 1), st.integers(min_value=limit + 1, max_value=limit * 3 + 10))
    piece = mixed_script(1, 12) if alphabet is None else st.text(alphabet=alphabet, min_size=1, max_size=12)
    return st.tuples(piece, lengths).map(
        lambda parts: (parts[0] * (parts[1] // len(parts[0]) + 1))[:parts[1]])


def at_most(limit: int) -> st.SearchStrategy[str]:
    """Text of exactly `limit` characters, and a little under: the boundary that must still pass."""
    return st.tuples(st.text(alphabet=LATIN, min_size=1, max_size=12),
                     st.integers(min_value=max(limit - 3, 1), max_value=limit)).map(
        lambda parts: (parts[0] * (parts[1] // len(parts[0]) + 1))[:parts[1]])


WHITESPACE_ONLY = st.text(alphabet=st.sampled_from([" ", "\t", "\n", "\r", "\u00a0", "\u3000", "\x1f", "\u2003"]),
                          min_size=0, max_size=8)


def free_text(limit: int) -> st.SearchStrategy[str]:
    """What someone may type in a text box limited to `limit` characters, and what they must not."""
    return st.one_of(
        mixed_script(), with_controls(), oversized(limit), at_most(limit), WHITESPACE_ONLY,
        st.text(alphabet=ANY_CHARACTER, max_size=80),
    )


# --- e-mail addresses --------------------------------------------------------------------------------------
#
# What "exactly one address" means is the portal's documented rule (docs/import-format.md): a local part
# without white space, quotes or the characters , ; : < > ( ) [ ] \ and without a dot at either end or two
# in a row; an @; a domain of two or more labels of letters, digits and inner hyphens, the last one of two or
# more letters; 254 characters at most. Each strategy below builds its text to be on one side of that rule.

_LOCAL_CHARS = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_LABEL = st.text(alphabet=st.sampled_from(_LETTERS + "0123456789"), min_size=1, max_size=12)
_TLD = st.text(alphabet=st.sampled_from(_LETTERS), min_size=2, max_size=6)
# How a domain is typed: as it is written, in capitals, or with a capital to each label.
_DOMAIN_CAPITALS = st.sampled_from([str.lower, str.upper, str.title])


def _plausible(local: str, domain: str, tld: str, capitals: Callable[[str], str], around: str) -> str:
    return f"{around}{local}@{capitals(f'{domain}.{tld}')}{around[::-1]}"


# Built once: a strategy built inside a draw is built and validated again for every example.
_PLAUSIBLE = st.builds(
    _plausible,
    st.lists(st.text(alphabet=_LOCAL_CHARS, min_size=1, max_size=10), min_size=1, max_size=3).map(".".join),
    st.lists(_LABEL, min_size=1, max_size=3).map(".".join), _TLD, _DOMAIN_CAPITALS,
    st.sampled_from(["", " ", "\t", "  \n"]))


def plausible_emails() -> st.SearchStrategy[str]:
    """One ordinary address, in any capitals, perhaps with white space around it."""
    return _PLAUSIBLE


# Addresses in another script (internationalised addresses, RFC 6531): one address each, accepted as such.
INTERNATIONAL_ADDRESSES = [
    "пользователь@пример.рф", "用户@例子.广告", "josé.garcía@correo.es", "δοκιμή@παράδειγμα.δοκιμή",
    "مستخدم@مثال.شبكة", "ünïcödé@bücher.de",
]
INTERNATIONAL_EMAILS = st.sampled_from(INTERNATIONAL_ADDRESSES)

MALFORMED_EMAILS_FIXED = [
    "", "@", "a", "a@", "@example.com", "a@b", "a@b.c", "a@b.c1", "a@@example.com", "a@b@example.com",
    "a b@example.com", "a@exa mple.com", "a@example..com", "a@.example.com", "a@example.com.", ".a@example.com",
    "a.@example.com", "a..b@example.com", "a@-example.com", "a@example-.com", "a@example.-com", "a@exam_ple.com",
    "a@example.com,b@example.com", "a@example.com;b@example.com", "a@example.com b@example.com",
    "An <a@example.com>", "<a@example.com>", '"a"@example.com', "a(comment)@example.com", "a@[127.0.0.1]",
    "a\\b@example.com", "a@example.123", "mailto:a@example.com", "a:b@example.com",
]

# Characters that no part of an address may hold, whatever the position.
FORBIDDEN_IN_ADDRESSES = " ()<>[]\",;:\\"


# The ways a good address (one of `plausible_emails`, trimmed) is broken, each named after what it takes
# away or adds, and each wrong for a reason that does not depend on the address it starts from.


def without_the_at(address: str) -> str:
    return address.replace("@", "")


def with_a_doubled_at(address: str) -> str:
    return address.replace("@", "@@")


def listed(first: str, second: str, separator: str) -> str:
    return f"{first}{separator}{second}"


def with_a_display_name(name: str, address: str) -> str:
    return f"{name} <{address}>"


def without_a_top_level_domain(address: str) -> str:
    """The domain's labels run together: no dot is left after the @.

    Cutting only the last label off would leave an address whenever the domain had three labels or more
    (`0@0.aa.bb` becomes `0@0.aa`).
    """
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.replace('.', '')}"


def with_a_digit_ending_the_domain(address: str, digit: int) -> str:
    return f"{address}{digit}"


def with_a_forbidden_character(address: str, character: str) -> str:
    return address[:1] + character + address[1:]


_GOOD = _PLAUSIBLE.map(str.strip)
_MALFORMED = st.one_of(
    st.sampled_from(MALFORMED_EMAILS_FIXED),
    st.one_of(
        _GOOD.map(without_the_at),
        _GOOD.map(with_a_doubled_at),
        st.builds(listed, _GOOD, _GOOD, st.sampled_from([",", ";", " ", ", "])),
        st.builds(with_a_display_name, mixed_script(1, 10), _GOOD),
        _GOOD.map(without_a_top_level_domain),
        st.builds(with_a_digit_ending_the_domain, _GOOD, st.integers(0, 9)),
        st.builds(with_a_forbidden_character, _GOOD, st.sampled_from(FORBIDDEN_IN_ADDRESSES)),
    ),
)


def malformed_emails() -> st.SearchStrategy[str]:
    """Not exactly one address: a list, a display name, a missing or doubled @, a bad domain, spaces inside."""
    return _MALFORMED


@st.composite
def oversized_emails(draw: st.DrawFn) -> str:
    """A well-formed address of more than 254 characters.

    Its parts keep to their own limits (a local part of at most 64 characters, a domain of at most 253 in
    labels of at most 63, RFC 5321 and 1035), so that the length of the whole is the one thing wrong with it.
    """
    local = draw(st.text(alphabet=_LOCAL_CHARS, min_size=1, max_size=64))
    length = draw(st.integers(min_value=255, max_value=len(local) + 1 + 253))
    tld = draw(_TLD)
    letters = st.sampled_from(_LETTERS + "0123456789")
    labels: list[str] = []
    rest = length - len(local) - 1 - len(tld) - 1  # the characters left for the labels before the TLD
    while rest > 63:
        size = draw(st.integers(min_value=1, max_value=min(63, rest - 2)))  # room for a dot and one more label
        labels.append(draw(letters) * size)
        rest -= size + 1
    labels.append(draw(letters) * rest)
    return f"{local}@{'.'.join(labels)}.{tld}"
