"""Care-teams services: consents, duplicates, identity vigilance, enrolment, circle, audit."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.accounts.notifications import Notification
from ptap.audit.models import AuditEvent
from ptap.audit.services import SYSTEM, AuditContext
from ptap.care_teams import access, circle, queries, services
from ptap.care_teams.access import AccessBasis
from ptap.care_teams.identity import IdentityData
from ptap.care_teams.models import (
    BreakGlassAccess,
    CareTeam,
    CircleInvitation,
    ConsentRecord,
    DuplicateFlag,
    Enrolment,
    Patient,
    PatientContact,
)
from ptap.core import clock
from ptap.core.errors import Conflict, InvalidInput, PermissionDenied
from ptap.core.ins import InsOid
from ptap.core.models import utcnow
from ptap.core.policy import can
from tests.audit.chain import sealed_report
from tests.factories import add_member, make_patient, make_team, make_user, valid_nir

REASON = "Chute au domicile, appel du SAMU, traitement en cours inconnu."
PDF = b"%PDF-1.4\n% formulaire signe\n%%EOF\n"
REQUEST = services.EnrolmentRequest(date(2026, 1, 5), "gp", "Dr Martin", ("medical", "social"))


def ctx(user: User) -> AuditContext:
    return AuditContext(actor_id=user.id, actor_label=user.email)


@contextmanager
def audit_rows(db) -> Iterator[list[tuple[str, int | None]]]:
    """Collect the (action, patient_id) audit rows written inside the block."""
    start = db.session.scalar(sa.select(sa.func.max(AuditEvent.id))) or 0
    rows: list[tuple[str, int | None]] = []
    yield rows
    rows.extend(
        (action, patient_id)
        for action, patient_id in db.session.execute(
            sa.select(AuditEvent.action, AuditEvent.patient_id)
            .where(AuditEvent.id > start)
            .order_by(AuditEvent.id)
        )
    )


def count(db, model: type) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def identity(
    birth_name: str = "Dupont",
    *,
    sex: str = "F",
    year: int = 1940,
    month: int | None = 5,
    day: int | None = 12,
    ins: bool = True,
    **changes: object,
) -> IdentityData:
    data = IdentityData(
        birth_name=birth_name,
        first_names="Marie Louise",
        birth_year=year,
        birth_month=month,
        birth_day=day,
        sex=sex,
        birthplace_code="69381",
        ins_matricule=valid_nir(sex, year, month or 5) if ins else "",
        ins_oid=InsOid.TEST_NIR if ins else "",
        identity_status="validated" if ins else "provisional",
        identity_check_method="identity_card" if ins else "",
    )
    return dataclasses.replace(data, **changes)


def same_identity(patient: Patient, **changes: object) -> IdentityData:
    """The patient's current identity as the edit form would send it back."""
    data = IdentityData(
        birth_name=patient.birth_name,
        first_names=patient.first_names,
        birth_year=patient.birth_year,
        birth_month=patient.birth_month,
        birth_day=patient.birth_day,
        sex=patient.sex,
        birthplace_code=patient.birthplace_code,
        used_name=patient.used_name,
        used_first_name=patient.used_first_name,
        ins_matricule=patient.ins_matricule or "",
        ins_oid=patient.ins_oid or "",
        identity_status=patient.identity_status,
        identity_check_method=patient.identity_check_method,
    )
    return dataclasses.replace(data, **changes)


@dataclass
class World:
    team: CareTeam
    other_team: CareTeam
    coord: User  # coordinator of both teams
    colleague: User  # another coordinator of the team
    member: User
    other_member: User  # member of the other team
    outsider: User


@pytest.fixture
def world(db, app, tmp_path: Path) -> World:
    app.config["UPLOAD_FOLDER"] = str(tmp_path / "uploads")
    team, other_team = make_team("Équipe Croix-Rousse"), make_team("Équipe Vaise")
    coord = make_user(role="coordinator", profession="nurse")
    colleague = make_user(role="coordinator", profession="care_coordinator")
    member = make_user(profession="physician")
    other_member = make_user(profession="social_worker")
    outsider = make_user(profession="pharmacist")
    add_member(team, coord, "coordinator")
    add_member(other_team, coord, "coordinator")
    add_member(team, colleague, "coordinator")
    add_member(team, member)
    add_member(other_team, other_member)
    return World(team, other_team, coord, colleague, member, other_member, outsider)


def create(w: World, data: IdentityData | None = None, team: CareTeam | None = None) -> Patient:
    return services.create_patient(
        w.coord, team or w.team, data or identity(), REQUEST, ctx(w.coord)
    )


def consent(w: World, patient: Patient, given: bool = True, kind: str = "sharing") -> ConsentRecord:
    return circle.record_consent(w.coord, patient, kind, given, "oral", "", ctx(w.coord))


def enrolment_of(db, patient: Patient, team: CareTeam) -> Enrolment:
    return db.session.scalars(
        sa.select(Enrolment).where(Enrolment.patient_id == patient.id, Enrolment.team_id == team.id)
    ).one()


# --- creation ---------------------------------------------------------------------------------


def test_create_patient_stores_identity_enrols_and_audits(db, world: World):
    data = identity(" Dupônt ", used_name="Martin")
    with audit_rows(db) as rows:
        patient = create(world, data)
    assert patient.birth_name == "DUPONT"  # strict trait: INS rules (upper case, no accent)
    assert patient.search_birth_name == "DUPONT"
    assert patient.used_name == "Martin"  # kept as the person writes it
    assert patient.ins_matricule == data.ins_matricule
    assert patient.identity_status == "validated"
    assert (patient.document_type, patient.document_checked_by_id) == (
        "identity_card",
        world.coord.id,
    )
    assert patient.identity_checked_by_id == world.coord.id
    assert patient.identity_checked_at is not None
    assert patient.created_by_id == world.coord.id
    assert not patient.sharing_consent
    enrolment = enrolment_of(db, patient, world.team)
    assert enrolment.enrolled_by_id == world.coord.id
    assert enrolment.categories == ["medical", "social"]
    assert rows == [("patient.create", patient.id), ("enrolment.create", patient.id)]
    assert access.access_basis(world.coord.id, patient) == AccessBasis.ENROLLING_COORDINATOR
    assert access.access_basis(world.member.id, patient) is None


def test_provisional_creation_has_no_check(db, world: World):
    patient = create(world, identity(ins=False))
    assert patient.identity_status == "provisional"
    assert patient.identity_checked_at is None
    assert patient.ins_matricule is None
    assert patient.ins_oid is None


def test_create_patient_refused_to_a_plain_member(db, world: World):
    before = count(db, Patient)
    with audit_rows(db) as rows, pytest.raises(PermissionDenied):
        services.create_patient(world.member, world.team, identity(), REQUEST, ctx(world.member))
    # A platform coordinator who is only a member of the team is refused as well.
    plain = make_user(role="coordinator")
    add_member(world.team, plain)
    with pytest.raises(PermissionDenied):
        services.create_patient(plain, world.team, identity(), REQUEST, ctx(plain))
    with pytest.raises(PermissionDenied):
        services.create_patient(world.colleague, world.other_team, identity(), REQUEST, SYSTEM)
    assert count(db, Patient) == before
    assert rows == []


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (
            services.EnrolmentRequest(date(2026, 1, 5), "neighbour", "", ("medical",)),
            "requester_kind",
        ),
        (services.EnrolmentRequest(date(2026, 1, 5), "gp", "", ()), "problem_categories"),
        (services.EnrolmentRequest(date(2026, 1, 5), "gp", "", ("boredom",)), "problem_categories"),
        (
            services.EnrolmentRequest(
                clock.paris_today() + timedelta(days=1),
                "gp",
                "",
                ("medical",),
            ),
            "requested_on",
        ),
    ],
)
def test_invalid_enrolment_request_is_refused(db, world: World, request_, field: str):
    with pytest.raises(InvalidInput) as caught:
        services.create_patient(world.coord, world.team, identity(), request_, SYSTEM)
    assert caught.value.field == field
    assert count(db, Patient) == 0


def test_test_identities_refused_when_not_allowed(db, app, world: World):
    app.config["INS_ALLOW_TEST_IDENTITIES"] = False
    with pytest.raises(InvalidInput) as caught:
        create(world)
    assert caught.value.field == "ins_oid"
    create(world, identity(ins_oid=InsOid.NIR))


def test_duplicate_ins_is_refused_and_nothing_created(db, world: World):
    first = create(world)
    nir = first.ins_matricule
    assert nir is not None
    patients, enrolments = count(db, Patient), count(db, Enrolment)
    spaced = f"{nir[0]} {nir[1:3]} {nir[3:5]} {nir[5:7]} {nir[7:10]} {nir[10:13]} {nir[13:]}"
    with audit_rows(db) as rows:
        with pytest.raises(services.DuplicateIns) as caught:
            create(world, identity("Martin", ins_matricule=spaced))
        assert caught.value.existing_id == first.id
        assert caught.value.field == "ins_matricule"
        assert caught.value.status == 409
        # In another team, by the same coordinator: refused too.
        with pytest.raises(services.DuplicateIns):
            create(world, identity("Martin", ins_matricule=nir), team=world.other_team)
    assert (count(db, Patient), count(db, Enrolment)) == (patients, enrolments)
    assert count(db, DuplicateFlag) == 0
    assert rows == []


def test_update_identity_to_an_ins_already_used_is_refused(db, world: World):
    first = create(world)
    second = create(world, identity("Martin"))
    with pytest.raises(services.DuplicateIns) as caught:
        services.update_identity(
            world.coord,
            second,
            same_identity(second, ins_matricule=first.ins_matricule),
            ctx(world.coord),
        )
    assert caught.value.existing_id == first.id
    # Saving a record with its own INS is not a duplicate.
    services.update_identity(world.coord, first, same_identity(first), ctx(world.coord))


# --- possible duplicates ----------------------------------------------------------------------


def flags(db) -> list[tuple[int, int, str]]:
    return [
        (f.patient_id, f.other_patient_id, f.status)
        for f in db.session.scalars(sa.select(DuplicateFlag).order_by(DuplicateFlag.id))
    ]


def test_same_birth_name_date_and_sex_is_flagged(db, world: World):
    first = create(world, identity("Dupont"))
    with audit_rows(db) as rows:
        second = create(world, identity("DUPONT"))
    assert flags(db) == [(second.id, first.id, "open")]
    assert ("patient.duplicate_flag", second.id) in rows
    third = create(world, identity("Dupônt"), team=world.other_team)
    assert set(flags(db)) == {
        (second.id, first.id, "open"),
        (third.id, first.id, "open"),
        (third.id, second.id, "open"),
    }


def test_accents_case_and_punctuation_do_not_hide_a_duplicate(db, world: World):
    first = create(world, identity("Le Hénaff-Durand"))
    second = create(world, identity("LE HENAFF  DURAND", ins=False))
    assert flags(db) == [(second.id, first.id, "open")]


@pytest.mark.parametrize(
    "changes",
    [
        {"sex": "M"},
        {"day": 13},
        {"month": 6},
        {"year": 1941},
        {"birth_name": "Dupond"},
    ],
)
def test_different_traits_are_not_flagged(db, world: World, changes: dict):
    create(world, identity("Dupont"))
    create(world, identity(**({"birth_name": "Dupont"} | changes)))
    assert flags(db) == []


def test_unknown_day_and_month_match_unknown_day_and_month(db, world: World):
    first = create(world, identity("Dupont", month=None, day=None))
    create(world, identity("Dupont", month=5, day=None))  # known month: another date
    third = create(world, identity("Dupont", month=None, day=None, ins=False))
    assert flags(db) == [(third.id, first.id, "open")]


def test_merged_records_are_not_flagged_again(db, world: World):
    first = create(world, identity("Dupont", ins=False))
    second = create(world, identity("Dupont"))
    (flag,) = db.session.scalars(sa.select(DuplicateFlag)).all()
    services.resolve_duplicate(world.coord, flag, "merge", ctx(world.coord))
    third = create(world, identity("Dupont", ins=False))
    assert flags(db)[1:] == [(third.id, first.id, "open")]
    assert second.merged_into_id == first.id


def test_identity_change_flags_a_new_duplicate_once(db, world: World):
    first = create(world, identity("Dupont"))
    second = create(world, identity("Martin"))
    assert flags(db) == []
    with audit_rows(db) as rows:
        services.update_identity(
            world.coord, second, same_identity(second, birth_name="Dupont"), ctx(world.coord)
        )
    assert flags(db) == [(second.id, first.id, "open")]
    assert rows == [
        ("patient.update_identity", second.id),
        ("patient.duplicate_flag", second.id),
    ]
    # Editing again does not raise the same flag twice, nor once it was dismissed.
    (flag,) = db.session.scalars(sa.select(DuplicateFlag)).all()
    services.resolve_duplicate(world.coord, flag, "dismiss", ctx(world.coord))
    services.update_identity(
        world.coord, second, same_identity(second, first_names="Marie"), ctx(world.coord)
    )
    assert flags(db) == [(second.id, first.id, "dismissed")]


# --- merge and dismiss ------------------------------------------------------------------------


def test_merge_moves_everything_to_the_older_record(db, world: World):
    survivor = create(world, identity("Dupont", ins=False))
    duplicate = create(world, identity("DUPONT"), team=world.other_team)
    dup_ins, dup_oid = duplicate.ins_matricule, duplicate.ins_oid
    consent(world, duplicate)
    consent(world, duplicate, kind="dmp_opposition")
    contact = services.add_contact(
        world.coord,
        duplicate,
        services.ContactData("caregiver", "Paul Dupont", "Fils", "0600000000"),
        ctx(world.coord),
    )
    guest = make_user()
    invitation = circle.invite_to_circle(
        world.coord, duplicate, guest, utcnow() + timedelta(days=10), "", ctx(world.coord)
    )
    grant = circle.open_break_glass(world.outsider, duplicate, REASON, ctx(world.outsider))
    assert [c.id for c in duplicate.contacts] == [contact.id]  # loaded before the merge
    assert not survivor.sharing_consent
    assert access.access_basis(world.other_member.id, survivor) is None
    (flag,) = db.session.scalars(sa.select(DuplicateFlag)).all()
    assert (flag.patient_id, flag.other_patient_id) == (duplicate.id, survivor.id)

    with audit_rows(db) as rows:
        resolved = services.resolve_duplicate(world.coord, flag, "merge", ctx(world.coord))

    assert rows == [("patient.duplicate_merge", duplicate.id)]
    assert resolved.status == "merged"
    assert resolved.resolved_by_id == world.coord.id
    assert resolved.resolved_at is not None
    # The duplicate is hidden and emptied.
    assert duplicate.merged_into_id == survivor.id
    assert duplicate.ins_matricule is None
    assert not duplicate.sharing_consent
    assert duplicate.contacts == []
    # Enrolments, contacts, consents, invitations and emergency accesses moved.
    teams = {e.team_id for e in queries.active_enrolments(survivor.id)}
    assert teams == {world.team.id, world.other_team.id}
    assert [c.id for c in survivor.contacts] == [contact.id]
    moved = db.session.scalars(
        sa.select(ConsentRecord.patient_id).where(ConsentRecord.patient_id == duplicate.id)
    ).all()
    assert moved == []
    assert len(queries.consent_history(survivor.id)) == 2
    assert db.session.get(CircleInvitation, invitation.id).patient_id == survivor.id
    assert db.session.get(BreakGlassAccess, grant.id).patient_id == survivor.id
    # The survivor had no INS: it takes the duplicate's.
    assert (survivor.ins_matricule, survivor.ins_oid) == (dup_ins, dup_oid)
    # Consent flags recomputed from the merged ledger.
    assert survivor.sharing_consent
    assert survivor.dmp_opposition
    # Access follows: the other team now sees the survivor, nobody sees the duplicate.
    assert access.access_basis(world.other_member.id, survivor) == AccessBasis.MEMBER
    assert access.access_basis(world.member.id, survivor) == AccessBasis.MEMBER
    assert access.access_basis(guest.id, survivor) == AccessBasis.INVITED
    for user in (world.coord, world.member, world.other_member, guest, world.outsider):
        assert access.access_basis(user.id, duplicate) is None
        assert duplicate.id not in set(db.session.scalars(access.visible_patient_ids(user.id)))
    assert queries.open_duplicates(world.coord.id) == []
    assert sealed_report().ok


def test_merge_keeps_the_survivors_own_ins(db, world: World):
    survivor = create(world, identity("Dupont"))
    duplicate = create(world, identity("Dupont"), team=world.other_team)
    survivor_ins, duplicate_ins = survivor.ins_matricule, duplicate.ins_matricule
    (flag,) = db.session.scalars(sa.select(DuplicateFlag)).all()
    services.resolve_duplicate(world.coord, flag, "merge", ctx(world.coord))
    assert survivor.ins_matricule == survivor_ins
    assert duplicate.ins_matricule == duplicate_ins
    assert duplicate.merged_into_id == survivor.id


def test_duplicate_ins_of_a_merged_record_points_at_the_survivor(db, world: World):
    survivor = create(world, identity("Dupont"))
    duplicate = create(world, identity("Dupont"), team=world.other_team)
    (flag,) = db.session.scalars(sa.select(DuplicateFlag)).all()
    services.resolve_duplicate(world.coord, flag, "merge", ctx(world.coord))
    with pytest.raises(services.DuplicateIns) as caught:
        create(world, identity("Martin", ins_matricule=duplicate.ins_matricule))
    assert caught.value.existing_id == survivor.id


def test_merge_recomputes_consent_from_the_latest_entry(db, world: World):
    survivor = create(world, identity("Dupont", ins=False))
    duplicate = create(world, identity("Dupont"), team=world.other_team)
    consent(world, survivor, given=True)
    consent(world, duplicate, given=False)  # the latest choice: withdrawn
    (flag,) = db.session.scalars(sa.select(DuplicateFlag)).all()
    services.resolve_duplicate(world.coord, flag, "merge", ctx(world.coord))
    assert not survivor.sharing_consent
    assert access.access_basis(world.member.id, survivor) is None


def test_dismiss_keeps_both_records(db, world: World):
    first = create(world, identity("Dupont"))
    second = create(world, identity("Dupont"))
    (flag,) = db.session.scalars(sa.select(DuplicateFlag)).all()
    assert queries.open_duplicates(world.coord.id) == [flag]
    with audit_rows(db) as rows:
        services.resolve_duplicate(world.coord, flag, "dismiss", ctx(world.coord))
    assert rows == [("patient.duplicate_dismiss", second.id)]
    assert flag.status == "dismissed"
    assert flag.resolved_by_id == world.coord.id
    assert first.merged_into_id is None and second.merged_into_id is None
    for patient in (first, second):
        assert access.access_basis(world.coord.id, patient) == AccessBasis.ENROLLING_COORDINATOR
    assert queries.open_duplicates(world.coord.id) == []


@pytest.mark.parametrize("first_action", ["merge", "dismiss"])
@pytest.mark.parametrize("second_action", ["merge", "dismiss"])
def test_resolving_twice_is_a_conflict(db, world: World, first_action: str, second_action: str):
    create(world, identity("Dupont", ins=False))
    create(world, identity("Dupont"))
    (flag,) = db.session.scalars(sa.select(DuplicateFlag)).all()
    services.resolve_duplicate(world.coord, flag, first_action, ctx(world.coord))
    with audit_rows(db) as rows, pytest.raises(Conflict):
        services.resolve_duplicate(world.coord, flag, second_action, ctx(world.coord))
    assert rows == []
    assert flag.status == ("merged" if first_action == "merge" else "dismissed")


def test_resolve_refused_without_managing_both_records(db, world: World):
    create(world, identity("Dupont"))
    other_coord = make_user(role="coordinator")
    add_member(world.other_team, other_coord, "coordinator")
    services.create_patient(
        other_coord, world.other_team, identity("Dupont"), REQUEST, ctx(other_coord)
    )
    (flag,) = db.session.scalars(sa.select(DuplicateFlag)).all()
    with pytest.raises(PermissionDenied):
        services.resolve_duplicate(other_coord, flag, "merge", ctx(other_coord))
    with pytest.raises(PermissionDenied):
        services.resolve_duplicate(world.member, flag, "dismiss", ctx(world.member))
    assert flag.status == "open"


def test_unknown_resolve_action_is_refused(db, world: World):
    create(world, identity("Dupont"))
    create(world, identity("Dupont"))
    (flag,) = db.session.scalars(sa.select(DuplicateFlag)).all()
    with pytest.raises(InvalidInput):
        services.resolve_duplicate(world.coord, flag, "delete", ctx(world.coord))
    assert flag.status == "open"


# --- identity updates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"birth_name": "Dupond"},
        {"first_names": "Marie"},
        {"birth_day": 13},
        {"birthplace_code": "69382"},
        {"sex": "I"},
        {"birth_month": None, "birth_day": None},
    ],
)
def test_strict_trait_change_without_new_check_downgrades(db, world: World, changes: dict):
    patient = create(world)
    data = same_identity(patient, **changes)
    with audit_rows(db) as rows:
        services.update_identity(world.coord, patient, data, ctx(world.coord))
    assert patient.identity_status == "provisional"
    assert patient.identity_check_method == ""
    assert rows[0][0] == "patient.update_identity"
    assert rows[0][1] == patient.id


def test_removing_the_ins_of_a_validated_identity_downgrades(db, world: World):
    patient = create(
        world, identity(identity_status="validated", identity_check_method="identity_card")
    )
    data = same_identity(patient, ins_matricule="", ins_oid="")
    services.update_identity(world.coord, patient, data, ctx(world.coord))
    assert (patient.ins_matricule, patient.identity_status) == (None, "provisional")


def test_validated_identity_is_downgraded_too(db, world: World):
    patient = create(
        world,
        identity(ins=False, identity_status="validated", identity_check_method="passport"),
    )
    services.update_identity(
        world.coord, patient, same_identity(patient, birth_name="Dupond"), ctx(world.coord)
    )
    assert patient.identity_status == "provisional"


def test_used_name_change_keeps_the_status(db, world: World):
    patient = create(world)
    checked_at = patient.identity_checked_at
    data = same_identity(patient, used_name="Martin", used_first_name="Malou")
    with audit_rows(db) as rows:
        services.update_identity(world.coord, patient, data, ctx(world.coord))
    assert patient.identity_status == "validated"
    assert patient.identity_check_method == "identity_card"
    assert patient.used_name == "Martin"
    assert patient.search_used_name == "MARTIN"
    assert patient.identity_checked_at == checked_at
    assert rows == [("patient.update_identity", patient.id)]
    event = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event is not None
    assert event.reason == "traits: -; status: validated -> validated"


def test_same_traits_in_another_case_keep_the_status(db, world: World):
    patient = create(world)
    services.update_identity(
        world.coord, patient, same_identity(patient, birth_name="dupont"), ctx(world.coord)
    )
    assert patient.identity_status == "validated"


def test_new_check_with_new_traits_sets_the_new_status(db, world: World):
    patient = create(world, identity(ins=False))
    data = same_identity(
        patient,
        birth_name="Dupond",
        ins_matricule=valid_nir("F", 1940, 5),
        ins_oid=InsOid.TEST_NIR,
        identity_status="qualified",
        identity_check_method="insi_and_document",
    )
    with pytest.raises(InvalidInput) as error:  # only an INSi answer qualifies
        services.update_identity(world.coord, patient, data, ctx(world.coord))
    assert error.value.field == "identity_status"
    data = dataclasses.replace(data, identity_status="validated", identity_check_method="passport")
    services.update_identity(world.coord, patient, data, ctx(world.coord))
    assert patient.identity_status == "validated"
    assert patient.identity_checked_by_id == world.coord.id
    assert patient.identity_checked_at is not None


def test_update_identity_refused_to_a_member(db, world: World):
    patient = make_patient(world.team, world.coord)
    with pytest.raises(PermissionDenied):
        services.update_identity(world.member, patient, same_identity(patient), SYSTEM)


def test_invalid_identity_update_changes_nothing(db, world: World):
    patient = create(world)
    with audit_rows(db) as rows, pytest.raises(InvalidInput):
        services.update_identity(
            world.coord, patient, same_identity(patient, sex="M"), ctx(world.coord)
        )
    assert patient.sex == "F"
    assert rows == []


# --- consents ---------------------------------------------------------------------------------


def test_consent_given_then_withdrawn_takes_effect_at_once(db, world: World):
    patient = create(world)
    assert access.access_basis(world.member.id, patient) is None
    with audit_rows(db) as rows:
        consent(world, patient, True)
    assert rows == [("consent.record", patient.id)]
    assert patient.sharing_consent
    assert access.access_basis(world.member.id, patient) == AccessBasis.MEMBER
    assert access.access_basis(world.colleague.id, patient) == AccessBasis.MEMBER
    assert patient.id in set(db.session.scalars(access.visible_patient_ids(world.member.id)))

    consent(world, patient, False)
    assert not patient.sharing_consent
    assert access.access_basis(world.member.id, patient) is None
    assert access.access_basis(world.colleague.id, patient) is None
    assert patient.id not in set(db.session.scalars(access.visible_patient_ids(world.member.id)))
    # The enrolling coordinator still sees the record, to collect a new choice.
    assert access.access_basis(world.coord.id, patient) == AccessBasis.ENROLLING_COORDINATOR
    # And only they manage it now.
    assert can(world.coord, "patient.manage", patient)
    assert not can(world.colleague, "patient.manage", patient)


def test_dmp_opposition_follows_the_latest_entry(db, world: World):
    patient = create(world)
    assert not patient.dmp_opposition
    consent(world, patient, True, "dmp_opposition")
    assert patient.dmp_opposition
    assert not patient.sharing_consent  # the two kinds are independent
    consent(world, patient, False, "dmp_opposition")
    assert not patient.dmp_opposition
    consent(world, patient, True, "dmp_opposition")
    assert patient.dmp_opposition
    latest = circle.current_consent(patient.id, "dmp_opposition")
    assert latest is not None and latest.given
    assert len(queries.consent_history(patient.id)) == 3


def test_signed_form_needs_a_pdf(db, app, world: World):
    patient = create(world)
    with audit_rows(db) as rows:
        with pytest.raises(InvalidInput) as caught:
            circle.record_consent(
                world.coord, patient, "sharing", True, "signed_form", "", ctx(world.coord)
            )
        assert caught.value.field == "document"
        with pytest.raises(InvalidInput) as caught:
            circle.record_consent(
                world.coord,
                patient,
                "sharing",
                True,
                "signed_form",
                "",
                ctx(world.coord),
                document=b"GIF89a not a pdf",
            )
        assert caught.value.field == "document"
    assert rows == []
    assert count(db, ConsentRecord) == 0
    assert not patient.sharing_consent

    entry = circle.record_consent(
        world.coord, patient, "sharing", True, "signed_form", " signé ", ctx(world.coord), PDF
    )
    assert entry.note == "signé"
    assert entry.document_sha256 == hashlib.sha256(PDF).hexdigest()
    stored = Path(app.config["UPLOAD_FOLDER"]) / entry.document_path
    assert stored.read_bytes() == PDF
    assert patient.sharing_consent


def test_oversized_form_is_refused(db, world: World):
    patient = create(world)
    big = PDF + b"0" * circle.MAX_FORM_BYTES
    with pytest.raises(InvalidInput):
        circle.record_consent(world.coord, patient, "sharing", True, "signed_form", "", SYSTEM, big)


@pytest.mark.parametrize(
    ("kind", "method", "field"),
    [("photos", "oral", "kind"), ("sharing", "telepathy", "method")],
)
def test_unknown_consent_kind_or_method_is_refused(db, world: World, kind, method, field):
    patient = create(world)
    with pytest.raises(InvalidInput) as caught:
        circle.record_consent(world.coord, patient, kind, True, method, "", SYSTEM)
    assert caught.value.field == field


def test_consent_recorded_only_by_the_patients_coordinators(db, world: World):
    patient = create(world)
    with pytest.raises(PermissionDenied):
        circle.record_consent(world.member, patient, "sharing", True, "oral", "", SYSTEM)
    # Never recorded: any coordinator of the team collects it ("consentement à recueillir").
    circle.record_consent(
        world.colleague, patient, "sharing", True, "oral", "", ctx(world.colleague)
    )
    assert patient.sharing_consent
    circle.record_consent(
        world.colleague, patient, "sharing", False, "oral", "", ctx(world.colleague)
    )
    assert not patient.sharing_consent


# --- enrolments -------------------------------------------------------------------------------


def test_end_enrolment_other_needs_a_note(db, world: World):
    patient = create(world)
    enrolment = enrolment_of(db, patient, world.team)
    with audit_rows(db) as rows:
        with pytest.raises(InvalidInput) as caught:
            services.end_enrolment(world.coord, enrolment, "other", "   ", ctx(world.coord))
        assert caught.value.field == "end_note"
        with pytest.raises(InvalidInput) as caught:
            services.end_enrolment(world.coord, enrolment, "bored", "", ctx(world.coord))
        assert caught.value.field == "end_reason"
    assert rows == []
    assert enrolment.ended_at is None
    with audit_rows(db) as rows:
        services.end_enrolment(
            world.coord, enrolment, "other", " Suivi par l'HAD ", ctx(world.coord)
        )
    assert rows == [("enrolment.end", patient.id)]
    assert enrolment.ended_at is not None
    assert (enrolment.end_reason, enrolment.end_note) == ("other", "Suivi par l'HAD")
    assert queries.active_enrolments(patient.id) == []


def test_end_enrolment_removes_access_at_once(db, world: World):
    patient = create(world)
    consent(world, patient)
    assert access.access_basis(world.member.id, patient) == AccessBasis.MEMBER
    services.end_enrolment(
        world.colleague, enrolment_of(db, patient, world.team), "goals_met", "", SYSTEM
    )
    assert access.access_basis(world.member.id, patient) is None
    assert access.access_basis(world.coord.id, patient) is None


def test_end_enrolment_refused_to_a_member_and_when_already_ended(db, world: World):
    patient = create(world)
    enrolment = enrolment_of(db, patient, world.team)
    with pytest.raises(PermissionDenied):
        services.end_enrolment(world.member, enrolment, "goals_met", "", SYSTEM)
    services.end_enrolment(world.coord, enrolment, "goals_met", "", SYSTEM)
    with pytest.raises(PermissionDenied):
        services.end_enrolment(world.coord, enrolment, "moved", "", SYSTEM)


def test_enrol_existing_patient_in_another_team(db, world: World):
    patient = create(world)
    with audit_rows(db) as rows:
        services.enrol_patient(world.coord, patient, world.other_team, REQUEST, ctx(world.coord))
    assert rows == [("enrolment.create", patient.id)]
    with pytest.raises(Conflict):
        services.enrol_patient(world.coord, patient, world.other_team, REQUEST, SYSTEM)
    # A coordinator who cannot see the patient cannot enrol them.
    stranger = make_user(role="coordinator")
    third = make_team()
    add_member(third, stranger, "coordinator")
    with pytest.raises(PermissionDenied):
        services.enrol_patient(stranger, patient, third, REQUEST, SYSTEM)


# --- contacts ---------------------------------------------------------------------------------


def test_contacts_and_details_are_audited(db, world: World):
    patient = create(world)
    gp = make_user(profession="physician")
    nurse = make_user(profession="nurse")
    with audit_rows(db) as rows:
        contact = services.add_contact(
            world.coord,
            patient,
            services.ContactData("trusted_person", " Paul Dupont ", "Fils"),
            ctx(world.coord),
        )
        services.remove_contact(world.coord, patient, contact.id, ctx(world.coord))
        services.update_contact_details(
            world.coord,
            patient,
            address="1 rue de la République",
            postal_code="69001",
            city="Lyon",
            phone="0400000000",
            email="",
            gp_user_id=gp.id,
            gp_name="",
            ctx=ctx(world.coord),
        )
    assert rows == [
        ("patient.contact_add", patient.id),
        ("patient.contact_remove", patient.id),
        ("patient.update_contact", patient.id),
    ]
    assert contact.name == "Paul Dupont"
    assert count(db, PatientContact) == 0
    assert patient.gp_user_id == gp.id
    with pytest.raises(InvalidInput) as caught:
        services.update_contact_details(
            world.coord,
            patient,
            address="",
            postal_code="690",
            city="",
            phone="",
            email="",
            gp_user_id=None,
            gp_name="",
            ctx=SYSTEM,
        )
    assert caught.value.field == "postal_code"
    with pytest.raises(InvalidInput) as caught:
        services.update_contact_details(
            world.coord,
            patient,
            address="",
            postal_code="",
            city="",
            phone="",
            email="",
            gp_user_id=nurse.id,
            gp_name="",
            ctx=SYSTEM,
        )
    assert caught.value.field == "gp_user_id"
    with pytest.raises(InvalidInput):
        services.add_contact(world.coord, patient, services.ContactData("pet", "Rex"), SYSTEM)
    with pytest.raises(PermissionDenied):
        services.add_contact(
            world.member, patient, services.ContactData("caregiver", "Paul"), SYSTEM
        )


# --- circle: invitations ----------------------------------------------------------------------


def test_invite_and_revoke_are_audited_and_notified(db, world: World):
    patient = create(world)
    consent(world, patient)
    guest = make_user(profession="dietitian")
    with audit_rows(db) as rows:
        invitation = circle.invite_to_circle(
            world.coord, patient, guest, utcnow() + timedelta(days=30), " Avis ", ctx(world.coord)
        )
        circle.revoke_invitation(world.coord, patient, invitation.id, ctx(world.coord))
        circle.revoke_invitation(world.coord, patient, invitation.id, ctx(world.coord))
    assert rows == [("circle.invite", patient.id), ("circle.revoke", patient.id)]
    assert invitation.reason == "Avis"
    notes = db.session.scalars(sa.select(Notification).where(Notification.user_id == guest.id))
    assert [n.kind for n in notes] == ["circle_invitation"]


def test_invitation_refused_to_a_plain_member(db, world: World):
    patient = create(world)
    consent(world, patient)
    with pytest.raises(PermissionDenied):
        circle.invite_to_circle(
            world.member, patient, make_user(), utcnow() + timedelta(days=3), "", SYSTEM
        )
    assert count(db, CircleInvitation) == 0


def test_invitation_length_is_bounded(db, app, world: World):
    patient = create(world)
    guest = make_user()
    max_days = int(app.config["CIRCLE_INVITATION_MAX_DAYS"])
    for expires in (utcnow() + timedelta(days=max_days, hours=1), utcnow() - timedelta(hours=1)):
        with pytest.raises(InvalidInput) as caught:
            circle.invite_to_circle(world.coord, patient, guest, expires, "", SYSTEM)
        assert caught.value.field == "expires_on"
    circle.invite_to_circle(
        world.coord, patient, guest, utcnow() + timedelta(days=max_days - 1), "", SYSTEM
    )


@pytest.mark.parametrize(
    "invitee_kwargs",
    [{"role": "admin"}, {"role": "ars_analyst"}, {"role": "professional", "active": False}],
)
def test_invitation_only_for_active_professionals(db, world: World, invitee_kwargs: dict):
    patient = create(world)
    invitee = make_user(**invitee_kwargs)
    with pytest.raises(InvalidInput) as caught:
        circle.invite_to_circle(
            world.coord, patient, invitee, utcnow() + timedelta(days=3), "", SYSTEM
        )
    assert caught.value.field == "user_id"
    assert count(db, CircleInvitation) == 0


def test_inviting_someone_already_in_the_circle_is_a_conflict(db, world: World):
    patient = create(world)
    consent(world, patient)
    with pytest.raises(Conflict):
        circle.invite_to_circle(
            world.coord, patient, world.member, utcnow() + timedelta(days=3), "", SYSTEM
        )
    guest = make_user()
    circle.invite_to_circle(world.coord, patient, guest, utcnow() + timedelta(days=3), "", SYSTEM)
    with pytest.raises(Conflict):
        circle.invite_to_circle(
            world.coord, patient, guest, utcnow() + timedelta(days=3), "", SYSTEM
        )


# --- circle: break-the-glass ------------------------------------------------------------------


def test_break_glass_reason_too_short_is_refused(db, app, world: World):
    patient = create(world)
    short = "x" * (int(app.config["BREAK_GLASS_MIN_REASON"]) - 1)
    with audit_rows(db) as rows, pytest.raises(InvalidInput) as caught:
        circle.open_break_glass(world.outsider, patient, f"  {short}  ", ctx(world.outsider))
    assert caught.value.field == "reason"
    assert rows == []
    assert count(db, BreakGlassAccess) == 0


def test_break_glass_notifies_the_teams_current_coordinators_and_is_audited(db, world: World):
    today = clock.paris_today()
    leaving_later = make_user(role="coordinator")
    add_member(world.team, leaving_later, "coordinator", ends_on=today + timedelta(days=30))
    former = make_user(role="coordinator")
    add_member(world.team, former, "coordinator", ends_on=today - timedelta(days=1))
    future = make_user(role="coordinator")
    add_member(world.team, future, "coordinator", starts_on=today + timedelta(days=1))
    analyst = make_user(role="ars_analyst", profession="public_health")
    add_member(world.team, analyst, "coordinator")
    other_coord = make_user(role="coordinator")
    add_member(world.other_team, other_coord, "coordinator")
    patient = create(world)

    with audit_rows(db) as rows:
        grant = circle.open_break_glass(
            world.outsider, patient, f"  {REASON} ", ctx(world.outsider)
        )
    assert rows == [("patient.break_glass", patient.id)]
    event = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event is not None
    assert (event.actor_id, event.object_type, event.object_id, event.reason) == (
        world.outsider.id,
        "break_glass",
        str(grant.id),
        REASON,
    )
    notified = set(
        db.session.scalars(
            sa.select(Notification.user_id).where(Notification.kind == "break_glass")
        )
    )
    assert notified == {world.coord.id, world.colleague.id, leaving_later.id}
    assert queries.access_log(patient.id)[0].detail == REASON


def test_break_glass_alerts_security_admins_in_app_and_by_mail(db, app, world: World):
    from ptap.core.mail import MEMORY_OUTBOX, send_queued_mail

    app.config["MAIL_TRANSPORT"] = "memory"
    MEMORY_OUTBOX.clear()
    security = make_user(role="admin", profession="administrative", email="secu@example.test")
    patient = create(world)
    circle.open_break_glass(world.outsider, patient, REASON, ctx(world.outsider))
    [alert] = db.session.scalars(
        sa.select(Notification).where(Notification.user_id == security.id)
    ).all()
    assert alert.kind == "break_glass_alert" and world.outsider.full_name in alert.title
    assert patient.birth_name not in alert.title  # no health data in the alert
    db.session.commit()
    assert MEMORY_OUTBOX == []  # queued in the mail outbox, sent by the scheduler's job
    send_queued_mail()
    assert "secu@example.test" in [m["To"] for m in MEMORY_OUTBOX]
    MEMORY_OUTBOX.clear()


def test_break_glass_limit_per_user_and_24_hours(db, app, world: World):
    app.config["BREAK_GLASS_MAX_PER_DAY"] = 2
    patients = [create(world, identity(name)) for name in ("Martin", "Petit", "Durand")]
    for patient in patients[:2]:
        circle.open_break_glass(world.outsider, patient, REASON, ctx(world.outsider))
    with pytest.raises(circle.BreakGlassLimitReached) as caught:
        circle.open_break_glass(world.outsider, patients[2], REASON, ctx(world.outsider))
    assert caught.value.status == 429 and "la limite (2)" in caught.value.message
    # Another professional is not limited by the first one's accesses.
    other = make_user(profession="nurse")
    circle.open_break_glass(other, patients[2], REASON, ctx(other))
    # 24 hours after the first, one slot is free again.
    with clock.frozen(clock.now() + timedelta(hours=24, seconds=1)):
        circle.open_break_glass(world.outsider, patients[2], REASON, ctx(world.outsider))


def test_break_glass_refused_to_someone_in_the_circle(db, world: World):
    patient = create(world)
    consent(world, patient)
    for user in (world.coord, world.member):
        with pytest.raises(PermissionDenied):
            circle.open_break_glass(user, patient, REASON, SYSTEM)


def test_review_of_ones_own_break_glass_is_refused(db, world: World):
    patient = create(world)
    # A coordinator joining the team tomorrow has no basis today: they may break the glass,
    # then coordinate the patient once they joined and consent is given.
    late = make_user(role="coordinator", profession="care_coordinator")
    membership = add_member(
        world.team, late, "coordinator", starts_on=clock.paris_today() + timedelta(days=1)
    )
    grant = circle.open_break_glass(late, patient, REASON, ctx(late))
    membership.starts_on = clock.paris_today()
    consent(world, patient)
    assert access.coordinates_patient(late.id, patient)
    with pytest.raises(PermissionDenied):
        circle.review_break_glass(late, grant, "Justifié.", ctx(late))
    with pytest.raises(PermissionDenied):
        circle.review_break_glass(world.member, grant, "Justifié.", ctx(world.member))
    with pytest.raises(InvalidInput):
        circle.review_break_glass(world.coord, grant, "  ", ctx(world.coord))
    with audit_rows(db) as rows:
        circle.review_break_glass(world.coord, grant, " Justifié. ", ctx(world.coord))
    assert rows == [("break_glass.review", patient.id)]
    assert (grant.reviewed_by_id, grant.review_note) == (world.coord.id, "Justifié.")
    with pytest.raises(Conflict):
        circle.review_break_glass(world.coord, grant, "Encore.", ctx(world.coord))


# --- the audit trail of a whole story ---------------------------------------------------------


def test_every_write_leaves_its_audit_rows_and_the_chain_holds(db, world: World):
    with audit_rows(db) as rows:
        patient = create(world)
        pid = patient.id
        consent(world, patient)
        consent(world, patient, kind="dmp_opposition")
        guest = make_user()
        invitation = circle.invite_to_circle(
            world.coord, patient, guest, utcnow() + timedelta(days=5), "", ctx(world.coord)
        )
        circle.revoke_invitation(world.coord, patient, invitation.id, ctx(world.coord))
        grant = circle.open_break_glass(world.outsider, patient, REASON, ctx(world.outsider))
        circle.review_break_glass(world.colleague, grant, "Justifié.", ctx(world.colleague))
        services.update_identity(
            world.coord, patient, same_identity(patient, used_name="Martin"), ctx(world.coord)
        )
        contact = services.add_contact(
            world.coord, patient, services.ContactData("caregiver", "Paul"), ctx(world.coord)
        )
        services.remove_contact(world.coord, patient, contact.id, ctx(world.coord))
        services.enrol_patient(world.coord, patient, world.other_team, REQUEST, ctx(world.coord))
        services.end_enrolment(
            world.coord, enrolment_of(db, patient, world.team), "moved", "", ctx(world.coord)
        )
        other = create(world, identity("Dupont", ins=False))
        (flag,) = db.session.scalars(sa.select(DuplicateFlag)).all()
        services.resolve_duplicate(world.coord, flag, "merge", ctx(world.coord))
    assert rows == [
        ("patient.create", pid),
        ("enrolment.create", pid),
        ("consent.record", pid),
        ("consent.record", pid),
        ("circle.invite", pid),
        ("circle.revoke", pid),
        ("patient.break_glass", pid),
        ("break_glass.review", pid),
        ("patient.update_identity", pid),
        ("patient.contact_add", pid),
        ("patient.contact_remove", pid),
        ("enrolment.create", pid),
        ("enrolment.end", pid),
        ("patient.create", other.id),
        ("enrolment.create", other.id),
        ("patient.duplicate_flag", other.id),
        ("patient.duplicate_merge", other.id),
    ]
    actions = [entry.action for entry in queries.access_log(pid)]
    assert actions[0] == "Sortie de l'équipe"
    assert actions[-1] == "Création du dossier"
    db.session.commit()
    report = sealed_report()
    assert report.ok, report.problem
    assert report.checked == len(rows)
