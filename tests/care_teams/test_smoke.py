from datetime import date

from ptap.audit.services import SYSTEM
from ptap.care_teams import access, circle, services
from ptap.care_teams.identity import IdentityData
from tests.factories import add_member, make_patient, make_team, make_user, valid_nir


def test_create_patient_and_access(db):
    coord = make_user(role="coordinator", profession="nurse")
    member = make_user()
    team = make_team()
    add_member(team, coord, "coordinator")
    add_member(team, member)
    ident = IdentityData(
        birth_name="Dupont",
        first_names="Marie Louise",
        birth_year=1940,
        birth_month=5,
        birth_day=12,
        sex="F",
        birthplace_code="69381",
        ins_matricule=valid_nir("F", 1940, 5),
        ins_oid="1.2.250.1.213.1.4.10",
        identity_status="qualified",
        identity_check_method="insi_and_document",
    )
    patient = services.create_patient(
        coord,
        team,
        ident,
        services.EnrolmentRequest(date(2026, 1, 1), "gp", "", ("medical",)),
        SYSTEM,
    )
    assert access.access_basis(coord.id, patient) == "enrolling_coordinator"
    assert access.access_basis(member.id, patient) is None
    circle.record_consent(coord, patient, "sharing", True, "oral", "", SYSTEM)
    assert access.access_basis(member.id, patient) == "member"
    other = make_patient(team, coord)
    ids = set(db.session.scalars(access.visible_patient_ids(member.id)))
    assert ids == {patient.id, other.id}
