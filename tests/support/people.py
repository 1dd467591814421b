"""The demo people's addresses (portal/demo/subjects.json) and the staff address the tests use, written once.

Beside each address: who the person is in the demo file (relations, consents, the language stored for them),
so that a test can pick the person its rule needs.
"""

from __future__ import annotations

AN = "an.peeters@example.com"  # customer (third-party, public, given, derived data) + visitor, newsletter consent; nl
BRAM = "bram.declercq@example.com"  # supplier, ended 30 June 2024: delivery records kept until 30 June 2034; nl
CHLOE = "chloe.martin@example.com"  # applicant with the talent-pool consent (applicant.2), a CV she gave; en
DRIES = "dries.vermeulen@example.com"  # applicant, ended 10 November 2026; nl
EVA = "eva.janssens@example.com"  # participant (ended), photo consent (participant.4) withdrawn; nl
FRANK = "frank.wouters@example.com"  # visitor with the cookie consent (visitor.3); en
GERT = "gert.maes@example.com"  # customer, ended 30 November 2016; nl
HANNE = "hanne.claes@example.com"  # participant with consent participant.4 + customer (running); en
PEOPLE = (AN, BRAM, CHLOE, DRIES, EVA, FRANK, GERT, HANNE)  # everyone in the demo file, in its order

NOBODY = "nobody@example.org"  # an address we hold nothing under (any address may sign in)

DPO = "dpo@we-are.be"  # the data protection manager: a staff member with the "dpo" role, who decides
