"""A published template version never changes: the database refuses UPDATE and DELETE.

Raw SQL goes around the ORM on purpose (the triggers are what is tested); each refusal is
checked against a control statement on pathway_templates, which the same connection may update.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ptap.pathways import services
from ptap.pathways.models import PathwayTemplateVersion
from tests.care_plans.test_services import build_world
from tests.pathways.helpers import heart_failure


@pytest.fixture
def version(db):
    world = build_world()
    template = services.create_template(world.coord, heart_failure(), team=world.team)
    published = services.publish_template(world.coord, template)
    db.session.commit()
    return published


def _stored(db, version_id):
    db.session.expire_all()
    return db.session.execute(
        sa.text("SELECT number, content_hash FROM pathway_template_versions WHERE id = :id"),
        {"id": version_id},
    ).one()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE pathway_template_versions SET content = '{}' WHERE id = :id",
        "UPDATE pathway_template_versions SET number = number + 10 WHERE id = :id",
        "DELETE FROM pathway_template_versions WHERE id = :id",
    ],
)
def test_database_refuses_raw_update_and_delete(db, version, statement):
    before = _stored(db, version.id)
    control = db.session.execute(
        sa.text("UPDATE pathway_templates SET theme = 'contrôle' WHERE id = :id"),
        {"id": version.template_id},
    )
    assert control.rowcount == 1
    db.session.rollback()
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.execute(sa.text(statement), {"id": version.id})
    db.session.rollback()
    assert _stored(db, version.id) == before


def test_database_refuses_an_orm_update(db, version):
    before = _stored(db, version.id)
    version = db.session.get(PathwayTemplateVersion, version.id)
    version.content = {"title": "réécrit"}
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    assert _stored(db, version.id) == before
