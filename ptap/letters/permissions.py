"""Who may manage letter templates and write, sign, file and send letters (policy rules)."""

from __future__ import annotations

from ptap.care_teams import access
from ptap.care_teams.models import CareTeam, Patient
from ptap.core.policy import Actor, can, is_clinician, rule
from ptap.extensions import db
from ptap.letters.models import Letter, LetterStatus


@rule("letter_templates.list")
def _list_templates(user: Actor, team: CareTeam | None) -> bool:
    """Members of the team (any team role)."""
    if team is None:
        return is_clinician(user)
    return is_clinician(user) and access.is_team_member(user.id, team.id)


@rule("letter_templates.manage")
def _manage_templates(user: Actor, team: CareTeam | None) -> bool:
    """The team's coordinators."""
    if team is None:
        return is_clinician(user)
    return is_clinician(user) and access.is_team_coordinator(user.id, team.id)


@rule("letters.list")
def _list(user: Actor, patient: Patient | None) -> bool:
    """Whoever sees the patient sees the letters about them."""
    if patient is None:
        return is_clinician(user)
    return can(user, "patient.read", patient)


@rule("letters.create")
def _create(user: Actor, patient: Patient | None) -> bool:
    """Members of a team following the patient who see the record (the letter is the team's)."""
    if not is_clinician(user):
        return False
    if patient is None:
        return True
    if not can(user, "patient.read", patient):
        return False
    return any(
        access.is_team_member(user.id, team_id)
        for team_id in access.active_enrolment_team_ids(patient.id)
    )


def _patient(letter: Letter) -> Patient | None:
    return db.session.get(Patient, letter.patient_id)


@rule("letter.read")
def _read(user: Actor, letter: Letter | None) -> bool:
    if letter is None:
        return is_clinician(user)
    patient = _patient(letter)
    return patient is not None and can(user, "patient.read", patient)


@rule("letter.edit")
def _edit(user: Actor, letter: Letter | None) -> bool:
    """Its author, while it is not signed."""
    if letter is None:
        return is_clinician(user)
    return (
        letter.status != LetterStatus.SIGNED and letter.author_id == user.id and _read(user, letter)
    )


@rule("letter.dispatch")
def _dispatch(user: Actor, letter: Letter | None) -> bool:
    """File or send a signed letter: its author or a coordinator of its team."""
    if letter is None:
        return is_clinician(user)
    if not _read(user, letter):
        return False
    return letter.author_id == user.id or access.is_team_coordinator(user.id, letter.team_id)
