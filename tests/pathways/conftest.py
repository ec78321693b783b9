"""Fixtures of the pathway tests: the assessment grid the heart-failure template's second step
names ("nyha", published), present whenever a test uses the database."""

from __future__ import annotations

import pytest

from ptap.extensions import db as _db
from ptap.grids.demo_grids import FRAILTY_SCREENING
from ptap.grids.models import AssessmentGrid, AssessmentGridVersion, GridStatus
from tests.factories import make_user

NYHA = "nyha"


def make_grid(key: str = NYHA, title: str = "Classe fonctionnelle NYHA") -> AssessmentGrid:
    """Add a published grid (version 1) with this key."""
    author = make_user(role="coordinator", profession="care_coordinator")
    definition = {**FRAILTY_SCREENING, "title": title}
    grid = AssessmentGrid(
        key=key,
        title=title,
        status=GridStatus.PUBLISHED,
        draft=definition,
        current_number=1,
        created_by_id=author.id,
    )
    _db.session.add(grid)
    _db.session.flush()
    _db.session.add(
        AssessmentGridVersion(
            grid_id=grid.id,
            number=1,
            definition=definition,
            content_hash="0" * 64,
            published_by_id=author.id,
        )
    )
    _db.session.flush()
    return grid


@pytest.fixture(autouse=True)
def _nyha_grid(request):
    if "db" in request.fixturenames:
        request.getfixturevalue("db")
        make_grid()
        _db.session.commit()
