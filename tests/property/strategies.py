"""Hostile input for the property tests: oversized, malformed, mixed-script and control-character text.

NUL (U+0000) and lone surrogates are left out of the general strategies on purpose: NUL is refused by
PostgreSQL's text columns and a lone surrogate cannot be encoded as UTF-8 at all, and what the portal
does with each is pinned down by dedicated tests (`test_nul_*`, `test_lone_surrogate*`), so that a
failure there names the bug instead of surfacing as a shrunk example somewhere else.
"""

from __future__ import annotations

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
    return st.characters(min_codepoint=first, max_codepoint=last, exclude_categories=("Cs", "Cc"))


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
    """Ordinary letters with control, bidi and invisible characters among them; at least one of those."""
    return st.tuples(
        st.text(alphabet=st.one_of(LATIN, st.sampled_from(CONTROLS)), min_size=min_size, max_size=max_size),
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

_LOCAL_CHARS = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-")
_LABEL = st.text(alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789"), min_size=1, max_size=12)
_TLD = st.text(alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyz"), min_size=2, max_size=6)


@st.composite
def plausible_emails(draw: st.DrawFn) -> str:
    """One ordinary address, in any capitals, perhaps with white space around it."""
    local = ".".join(draw(st.lists(st.text(alphabet=_LOCAL_CHARS, min_size=1, max_size=10), min_size=1, max_size=3)))
    domain = ".".join(draw(st.lists(_LABEL, min_size=1, max_size=3)))
    around = draw(st.sampled_from(["", " ", "\t", "  \n"]))
    return f"{around}{local}@{domain}.{draw(_TLD)}{around[::-1]}"


# Addresses in another script (internationalised addresses, RFC 6531): one address each, accepted as such.
INTERNATIONAL_EMAILS = st.sampled_from([
    "пользователь@пример.рф", "用户@例子.广告", "josé.garcía@correo.es", "δοκιμή@παράδειγμα.δοκιμή",
    "مستخدم@مثال.شبكة", "ünïcödé@bücher.de",
])

MALFORMED_EMAILS_FIXED = [
    "", "@", "a", "a@", "@example.com", "a@b", "a@b.c", "a@b.c1", "a@@example.com", "a@b@example.com",
    "a b@example.com", "a@exa mple.com", "a@example..com", "a@.example.com", "a@example.com.", ".a@example.com",
    "a.@example.com", "a..b@example.com", "a@-example.com", "a@example-.com", "a@example.-com", "a@exam_ple.com",
    "a@example.com,b@example.com", "a@example.com;b@example.com", "a@example.com b@example.com",
    "An <a@example.com>", "<a@example.com>", '"a"@example.com', "a(comment)@example.com", "a@[127.0.0.1]",
    "a\\b@example.com", "a@example.123", "mailto:a@example.com", "a:b@example.com",
]


@st.composite
def malformed_emails(draw: st.DrawFn) -> str:
    """Not exactly one address: a list, a display name, a missing or doubled @, a bad domain, spaces inside."""
    fixed = st.sampled_from(MALFORMED_EMAILS_FIXED)
    good = plausible_emails().map(str.strip)
    broken = st.one_of(
        good.map(lambda a: a.replace("@", "")),
        good.map(lambda a: a.replace("@", "@@")),
        st.tuples(good, good, st.sampled_from([",", ";", " ", ", "])).map(lambda t: t[0] + t[2] + t[1]),
        st.tuples(mixed_script(1, 10), good).map(lambda t: f"{t[0]} <{t[1]}>"),
        good.map(lambda a: a.rsplit(".", 1)[0]),  # no top-level domain
        st.tuples(good, st.integers(0, 9)).map(lambda t: f"{t[0]}{t[1]}"),  # a digit ends the domain
        st.tuples(good, st.sampled_from(" ()<>[]\",;:\\")).map(lambda t: t[0][:1] + t[1] + t[0][1:]),
    )
    return draw(st.one_of(fixed, broken))


@st.composite
def oversized_emails(draw: st.DrawFn) -> str:
    """A well-formed address of more than 254 characters."""
    local = "a" * draw(st.integers(min_value=64, max_value=300))
    labels = ["d" * draw(st.integers(min_value=40, max_value=63)) for _ in range(draw(st.integers(3, 6)))]
    address = f"{local}@{'.'.join(labels)}.com"
    return address if len(address) > 254 else address + "x" * (255 - len(address))
