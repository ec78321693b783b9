"""The grids demo: two published grids, scores evolving over months, one alert each time a
score crosses an alert threshold, and nothing added when run again."""

from __future__ import annotations

import sqlalchemy as sa

from ptap.grids import queries
from ptap.grids.demo import load_grids_demo
from ptap.grids.models import AssessmentAlert, AssessmentGrid
from tests.factories import add_member, make_patient, make_team, make_user


def test_demo_assesses_patients_at_different_dates(db):
    team = make_team("DAC démo")
    coord, nurse = make_user(role="coordinator"), make_user(profession="nurse")
    add_member(team, coord, "coordinator")
    add_member(team, nurse)
    patients = [make_patient(team, coord) for _ in range(3)]
    assert load_grids_demo([team.id]) == 6
    db.session.commit()
    assert {g.status for g in db.session.scalars(sa.select(AssessmentGrid))} == {"published"}
    rows = queries.patient_assessment_rows(patients[0].id)
    assert [r.score for r in reversed(rows)] == [1, 4, 7]
    dates = [r.signed_at for r in reversed(rows)]
    assert dates == sorted(dates) and (dates[-1] - dates[0]).days > 100
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AssessmentAlert)) == 2
    assert load_grids_demo([team.id]) == 0
