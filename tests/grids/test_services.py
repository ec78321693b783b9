"""Grids and assessments: safe score definitions, versions immutable in the database, autosave
then sign (frozen by the database), exactly one alert to the coordinators, roles."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DatabaseError

from ptap.accounts.notifications import Notification
from ptap.core.errors import Conflict, InvalidInput, PermissionDenied
from ptap.extensions import db as _db
from ptap.grids import queries, services
from ptap.grids.definition import compute_score, parse_definition
from ptap.grids.models import (
    Assessment,
    AssessmentAlert,
    AssessmentGrid,
    AssessmentGridVersion,
    AssessmentStatus,
)
from tests.grids.conftest import HIGH, HOME_SITUATION, LOW, ctx


def count(model) -> int:
    return _db.session.scalar(sa.select(sa.func.count()).select_from(model))


def alert_notes() -> list[Notification]:
    return list(
        _db.session.scalars(sa.select(Notification).where(Notification.kind == "assessment_alert"))
    )


def fill(w, answers, user=None) -> Assessment:
    user = user or w.nurse
    assessment = services.start_assessment(user, w.patient, w.grid, ctx(user))
    services.save_assessment(user, assessment, w.patient, answers, 0, ctx(user))
    return assessment


# --- definitions --------------------------------------------------------------------------


def test_score_is_the_sum_of_points_and_thresholds_pick_the_band():
    definition = parse_definition(HOME_SITUATION)
    answers = {"logement-obstacles": True, "entourage": "rare", "aidant-epuise": True}
    assert compute_score(definition, answers) == 2 + 3 + 3
    assert parse_definition(HOME_SITUATION).thresholds[2].contains(8)


def test_a_score_referencing_a_missing_item_is_refused_naming_the_field(db, world):
    broken = {**HOME_SITUATION, "score_items": ["logement-obstacles", "inconnu"]}
    with pytest.raises(InvalidInput) as caught:
        services.create_grid(world.coord, "cassee", broken, ctx(world.coord))
    assert caught.value.field == "score_items[1]"
    assert "« inconnu », qui n'existe pas" in caught.value.message
    _db.session.rollback()
    assert queries.find_grid_by_key("cassee") is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"score_items": ["observations"]}, "score_items[0]"),
        (
            {"thresholds": [{"label": "A", "min": 0, "max": 5}, {"label": "B", "min": 5}]},
            "thresholds[1]",
        ),
        ({"thresholds": [{"label": "A", "min": 4, "max": 2}]}, "thresholds[0].max"),
        ({"sections": []}, "sections"),
        ({"title": ""}, "title"),
    ],
)
def test_bad_definitions_are_refused_with_the_field(change, field):
    with pytest.raises(InvalidInput) as caught:
        parse_definition({**HOME_SITUATION, **change})
    assert caught.value.field == field


def test_a_duplicate_key_is_refused_and_nothing_is_created(db, world):
    with pytest.raises(InvalidInput) as caught:
        services.create_grid(world.coord, "reperage-fragilite", HOME_SITUATION, ctx(world.coord))
    assert caught.value.field == "key"
    assert count(AssessmentGrid) == 1


def test_only_coordinators_edit_grids(db, world):
    with pytest.raises(PermissionDenied):
        services.create_grid(world.nurse, "x", HOME_SITUATION, ctx(world.nurse))
    with pytest.raises(PermissionDenied):
        services.save_grid_draft(world.physician, world.grid, HOME_SITUATION, ctx(world.nurse))
    with pytest.raises(PermissionDenied):
        services.publish_grid(world.nurse, world.grid, ctx(world.nurse))


# --- versions -----------------------------------------------------------------------------


def test_publishing_an_unchanged_draft_creates_no_version_and_a_change_creates_one(db, world):
    assert services.publish_grid(world.coord, world.grid, ctx(world.coord)) is None
    changed = {**world.grid.draft, "description": "Nouvelle consigne."}
    services.save_grid_draft(world.coord, world.grid, changed, ctx(world.coord))
    version = services.publish_grid(world.coord, world.grid, ctx(world.coord))
    assert version is not None and version.number == 2
    assert [v.number for v in queries.list_versions(world.grid.id)] == [2, 1]


def test_a_published_version_is_immutable_in_the_database(db, world):
    version_id = queries.find_current_version(world.grid).id
    db.session.commit()
    with pytest.raises(DatabaseError):
        db.session.execute(
            sa.update(AssessmentGridVersion)
            .where(AssessmentGridVersion.id == version_id)
            .values(definition={"title": "changé"})
        )
    db.session.rollback()
    with pytest.raises(DatabaseError):
        db.session.execute(
            sa.delete(AssessmentGridVersion).where(AssessmentGridVersion.id == version_id)
        )
    db.session.rollback()


def test_an_assessment_keeps_its_version_when_the_grid_changes_or_retires(db, world):
    assessment = fill(world, LOW)
    first = assessment.grid_version_id
    changed = {**world.grid.draft, "description": "v2"}
    services.save_grid_draft(world.coord, world.grid, changed, ctx(world.coord))
    services.publish_grid(world.coord, world.grid, ctx(world.coord))
    services.retire_grid(world.coord, world.grid, ctx(world.coord))
    assert assessment.grid_version_id == first
    with pytest.raises(InvalidInput):
        services.start_assessment(world.nurse, world.patient, world.grid, ctx(world.nurse))


# --- filling, signing, alerts ---------------------------------------------------------------


def test_autosave_then_sign_and_a_signed_assessment_cannot_change(db, world):
    assessment = services.start_assessment(world.nurse, world.patient, world.grid, ctx(world.nurse))
    services.save_assessment(
        world.nurse, assessment, world.patient, {"vit-seul": True}, 0, ctx(world.nurse)
    )
    assert assessment.revision == 1 and assessment.score == 1
    services.save_assessment(world.nurse, assessment, world.patient, LOW, 1, ctx(world.nurse))
    with pytest.raises(Conflict):  # an autosave based on a stale revision
        services.save_assessment(world.nurse, assessment, world.patient, HIGH, 1, ctx(world.nurse))
    services.sign_assessment(world.nurse, assessment, world.patient, ctx(world.nurse))
    db.session.commit()
    assert assessment.status == AssessmentStatus.SIGNED and assessment.score == 1
    assert assessment.band_label == "Pas de fragilité repérée"
    with pytest.raises(Conflict):
        services.save_assessment(world.nurse, assessment, world.patient, HIGH, 2, ctx(world.nurse))
    with pytest.raises(Conflict):
        services.sign_assessment(world.nurse, assessment, world.patient, ctx(world.nurse))
    db.session.rollback()
    with pytest.raises(DatabaseError):  # the database refuses it too
        db.session.execute(
            sa.update(Assessment).where(Assessment.id == assessment.id).values(score=99)
        )
    db.session.rollback()
    with pytest.raises(DatabaseError):
        db.session.execute(sa.delete(Assessment).where(Assessment.id == assessment.id))
    db.session.rollback()
    assert db.session.get(Assessment, assessment.id).score == 1


def test_signing_needs_the_required_answers(db, world):
    assessment = fill(world, {"vit-seul": True})
    with pytest.raises(InvalidInput) as caught:
        services.sign_assessment(world.nurse, assessment, world.patient, ctx(world.nurse))
    assert caught.value.field == "answers.perte-poids"
    assert "avant de signer" in caught.value.message


def test_wrong_answers_are_refused_naming_the_item(db, world):
    assessment = services.start_assessment(world.nurse, world.patient, world.grid, ctx(world.nurse))
    for answers, field in (({"sorties": "jamais"}, "answers.sorties"), ({"x": 1}, "answers.x")):
        with pytest.raises(InvalidInput) as caught:
            services.save_assessment(
                world.nurse, assessment, world.patient, answers, 0, ctx(world.nurse)
            )
        assert caught.value.field == field


def test_an_alerting_score_raises_exactly_one_alert_to_the_coordinators(db, world):
    assessment = fill(world, HIGH)
    services.sign_assessment(world.nurse, assessment, world.patient, ctx(world.nurse))
    db.session.commit()
    assert assessment.score == 7 and assessment.band_alert
    alert = queries.find_alert(assessment.id)
    assert alert is not None and alert.notified_count == 2
    notes = alert_notes()
    assert sorted(n.user_id for n in notes) == sorted([world.coord.id, world.coord2.id])
    assert notes[0].link == f"/assessments/{assessment.id}"
    assert "Fragilité probable" in notes[0].title
    # Re-signing is refused, and raising again (a retried job, a second request) is a no-op.
    with pytest.raises(Conflict):
        services.sign_assessment(world.nurse, assessment, world.patient, ctx(world.nurse))
    db.session.rollback()
    definition = queries.version_definition(assessment.grid_version_id)
    assert services.raise_alert(assessment, world.patient, definition) is False
    db.session.commit()
    assert count(AssessmentAlert) == 1 and len(alert_notes()) == 2


def test_a_score_below_the_alert_threshold_raises_no_alert(db, world):
    assessment = fill(world, LOW)
    services.sign_assessment(world.nurse, assessment, world.patient, ctx(world.nurse))
    assert count(AssessmentAlert) == 0 and alert_notes() == []


def test_only_the_circle_fills_and_only_the_author_edits(db, world):
    with pytest.raises(PermissionDenied):
        services.start_assessment(world.outsider, world.patient, world.grid, ctx(world.outsider))
    assessment = fill(world, LOW)
    with pytest.raises(PermissionDenied):
        services.save_assessment(
            world.physician, assessment, world.patient, HIGH, 1, ctx(world.physician)
        )
    with pytest.raises(PermissionDenied):
        services.sign_assessment(world.physician, assessment, world.patient, ctx(world.physician))


def test_history_rows_come_in_one_query(db, world, count_queries):
    for answers in (LOW, HIGH, LOW):
        services.sign_assessment(world.nurse, fill(world, answers), world.patient, ctx(world.nurse))
    db.session.commit()
    patient_id = world.patient.id
    with count_queries() as counted:
        rows = queries.patient_assessment_rows(patient_id)
    assert len(rows) == 3 and len(counted) == 1
    assert [r.alerted for r in rows].count(True) == 1
