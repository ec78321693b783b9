"""Shared fixtures of the care-plan tests (test_views.py keeps its own, richer `org`)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.factories import add_member, make_patient, make_team, make_user


@pytest.fixture
def org(db):
    """A team (coordinating nurse, GP, nurse) following a patient."""
    team = make_team("Équipe Lyon Nord")
    coord = make_user(role="coordinator", profession="nurse")
    gp = make_user(profession="physician")
    nurse = make_user(profession="nurse")
    for user, role in ((coord, "coordinator"), (gp, "member"), (nurse, "member")):
        add_member(team, user, role)
    patient = make_patient(team, coord)
    return SimpleNamespace(team=team, coord=coord, gp=gp, nurse=nurse, patient=patient)
