"""Published versions are immutable: the database itself refuses UPDATE and DELETE.

Raw SQL goes around the ORM on purpose: the triggers, not the application, are what is
tested. Each refusal is checked against a control statement on care_plans, which the same
connection may update, so a test cannot pass because the statement never matched a row.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ptap.care_plans.models import CarePlan, CarePlanVersion
from tests.care_plans.test_services import (  # noqa: F401 - fixture
    build_world,
    published_plan,
)


@pytest.fixture
def version(db):
    """A committed version 1 (the refusals must not depend on uncommitted state)."""
    plan = published_plan(build_world())
    db.session.commit()
    return db.session.scalars(sa.select(CarePlanVersion).filter_by(plan_id=plan.id)).one()


def _stored(db, version_id):
    db.session.expire_all()
    return db.session.execute(
        sa.text("SELECT change_summary, number FROM care_plan_versions WHERE id = :id"),
        {"id": version_id},
    ).one()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE care_plan_versions SET change_summary = 'réécrit' WHERE id = :id",
        "UPDATE care_plan_versions SET content = '{}' WHERE id = :id",
        "UPDATE care_plan_versions SET number = number + 10 WHERE id = :id",
        "DELETE FROM care_plan_versions WHERE id = :id",
    ],
)
def test_database_refuses_raw_update_and_delete(db, version, statement):
    control = db.session.execute(
        sa.text("UPDATE care_plans SET close_reason = 'contrôle' WHERE id = :id"),
        {"id": version.plan_id},
    )
    assert control.rowcount == 1
    db.session.rollback()
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.execute(sa.text(statement), {"id": version.id})
    db.session.rollback()
    assert _stored(db, version.id) == ("Première version", 1)


def test_database_refuses_an_orm_update(db, version):
    version.change_summary = "réécrit"
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    assert _stored(db, version.id) == ("Première version", 1)


def test_database_refuses_an_orm_delete(db, version):
    plan = db.session.get(CarePlan, version.plan_id)
    plan.current_version = None
    db.session.flush()
    db.session.delete(version)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    assert _stored(db, version.id) == ("Première version", 1)


def test_bulk_orm_update_is_refused(db, version):
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.execute(
            sa.update(CarePlanVersion)
            .where(CarePlanVersion.plan_id == version.plan_id)
            .values(change_summary="réécrit")
        )
    db.session.rollback()
    assert db.session.get(CarePlanVersion, version.id).next_review_on is not None
