"""The Dutch catalogue is complete: every string in the code and templates has a Dutch translation."""

from __future__ import annotations

import subprocess
import sys

from babel.messages.pofile import read_po

from tests.conftest import REPO_ROOT

CATALOGUE = REPO_ROOT / "translations" / "nl" / "LC_MESSAGES" / "messages.po"


def load_catalogue():
    with CATALOGUE.open("rb") as handle:
        return read_po(handle, locale="nl")


def test_no_dutch_entry_is_untranslated_or_fuzzy():
    catalogue = load_catalogue()
    untranslated = [m.id for m in catalogue if m.id and not (all(m.string) if isinstance(m.string, tuple)
                                                              else m.string)]
    fuzzy = [m.id for m in catalogue if m.id and m.fuzzy]
    assert untranslated == [] and fuzzy == []
    assert not catalogue.fuzzy  # the header itself


def test_every_string_in_the_code_is_in_the_catalogue(tmp_path):
    template = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "_l",
         "-k", "lazy_gettext", "--no-location", "-o", str(template), "."],
        cwd=REPO_ROOT, check=True, capture_output=True,
    )
    with template.open("rb") as handle:
        wanted = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}
    assert len(wanted) > 50  # the extraction really found the portal's strings
    present = {m.id if isinstance(m.id, str) else m.id[0] for m in load_catalogue() if m.id}
    missing = sorted(wanted - present)
    assert missing == [], "run `make extract-messages` and translate: " + "; ".join(missing)


def test_placeholders_survive_translation():
    import re

    for message in load_catalogue():
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(re.findall(r"%\(\w+\)s", ids[-1]))
        for string in strings:
            assert set(re.findall(r"%\(\w+\)s", string)) == wanted, message.id
