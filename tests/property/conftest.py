"""One app per module for the property tests, and the hypothesis profiles they run under.

Hypothesis runs many examples inside one test function, so the app, its database and the signed-in
browsers live for the whole module (function-scoped fixtures would be shared between examples without
being reset, which hypothesis rightly refuses). Every example therefore compares the database with
itself just before (`snapshot` in tests/support/database.py), instead of with an empty one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from flask import Flask
from hypothesis import HealthCheck, settings

from tests.conftest import SmtpServer, close_app, make_app

ON_POSTGRES = bool(os.environ.get("PORTAL_TEST_DATABASE_URL"))

# Two ways to run hypothesis, chosen by HYPOTHESIS_PROFILE (unset: "ci").
#
# "ci", what `make test` runs: the same examples on every run of the same code, on any machine (derandomize:
# each test's seed is derived from the test itself, and the literals hypothesis also draws from come from the
# code loaded), so that a run judges the code, not the draw. Modest example counts with no deadline (a page
# render on PostgreSQL varies), no example database on disk (runs stay independent of each other), and no
# complaint about large generated text: that is the point.
#
# "fuzz", what `make fuzz` runs: random seeds and many more examples, to find what the fixed draws miss.
# A failure prints the shrunk example, to be pinned down as a test of its own, and a blob that replays it
# (`@reproduce_failure`).
#
# Tests take their settings from the loaded profile: a test that needs its own count derives it from
# `settings.default` (the profile), so that it never turns derandomize back off.
settings.register_profile(
    "ci", max_examples=30, derandomize=True, database=None, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
settings.register_profile("fuzz", settings.get_profile("ci"), max_examples=500, derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="module")
def portal(migrated_database: str, smtp_server: SmtpServer) -> Iterator[Flask]:
    """The portal for a whole module, on the run's database (emptied at the end, like every test's app)."""
    if smtp_server.controller is None:  # a test that simulated an outage left it stopped
        smtp_server.start()
    app = make_app(migrated_database, SMTP_URL=smtp_server.url)
    yield app
    close_app(app)
