"""The placeholders a letter template may use, filled from the patient record as plain data.

Every value is a str, a list or a dict of those: the sandbox gets nothing else. Names are
French, as coordinators write the templates: ``{{ patient.nom }}``, ``{{ medecin_traitant.nom }}``,
``{% for o in plan.objectifs %}``. ``SAMPLE`` has the same shape, for the preview of a template
and the check made when it is saved.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.care_plans import queries as plan_queries
from ptap.care_plans.content import ACTION_STATUS_LABELS, load_content
from ptap.care_plans.documents import assignee_label
from ptap.care_plans.models import PLAN_STATUS_LABELS
from ptap.care_teams import queries as team_queries
from ptap.care_teams.models import CareTeam, Patient
from ptap.core import clock
from ptap.core.formatting import fr_date, label
from ptap.extensions import db
from ptap.meetings import queries as meeting_queries
from ptap.meetings.decisions import describe
from ptap.meetings.models import ItemStatus

#: Placeholder → what it holds (shown on the template page).
PLACEHOLDERS: dict[str, str] = {
    "patient": "identité : nom, prenom, nom_naissance, prenoms, date_naissance, sexe, "
    "ne_le (« Née le » / « Né le »), adresse, code_postal, ville, telephone",
    "medecin_traitant": "nom, profession, rpps (vides si inconnus)",
    "cercle": "liste des professionnels du cercle de soins : nom, profession, qualite",
    "aidants": "liste des aidants et contacts : nom, lien, type, telephone",
    "plan": "PPCS en vigueur : existe (oui/non), version, statut, date, prochaine_reevaluation, "
    "objectifs (liste : intitule, actions (liste : quoi, qui, echeance, statut))",
    "derniere_concertation": "dernière concertation : existe, date, titre, synthese, "
    "decisions (liste de textes)",
    "auteur": "nom, profession, rpps",
    "equipe": "nom, structure",
    "destinataire": "à qui la lettre est adressée",
    "date_du_jour": "date du jour (jj/mm/aaaa)",
}
KNOWN = set(PLACEHOLDERS)

_NO_MEETING: dict[str, Any] = {
    "existe": False,
    "date": "",
    "titre": "",
    "synthese": "",
    "decisions": [],
}


def _patient(patient: Patient) -> dict[str, Any]:
    return {
        "nom": patient.used_name or patient.birth_name,
        "prenom": patient.used_first_name or patient.first_names.split(" ")[0],
        "nom_naissance": patient.birth_name,
        "prenoms": patient.first_names,
        "date_naissance": patient.birth_date_label,
        "sexe": {"F": "Féminin", "M": "Masculin"}.get(patient.sex, "Indéterminé"),
        "ne_le": patient.born_on_label,
        "adresse": patient.address,
        "code_postal": patient.postal_code,
        "ville": patient.city,
        "telephone": patient.phone,
    }


def _person(user: User | None, fallback: str = "") -> dict[str, str]:
    if user is None:
        return {"nom": fallback, "profession": "", "rpps": ""}
    return {"nom": user.full_name, "profession": user.profession_label, "rpps": user.rpps or ""}


def _plan(patient_id: int) -> dict[str, Any]:
    plan = plan_queries.find_plan_for_patient(patient_id)
    version = plan.current_version if plan is not None else None
    if plan is None or version is None:
        return {
            "existe": False,
            "version": "",
            "statut": "",
            "date": "",
            "prochaine_reevaluation": "",
            "objectifs": [],
        }
    content = load_content(version.content)
    ids = {a.assignee_user_id for _o, a in content.actions() if a.assignee_user_id}
    users = (
        {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(ids)))}
        if ids
        else {}
    )
    return {
        "existe": True,
        "version": str(version.number),
        "statut": label(PLAN_STATUS_LABELS, plan.status),
        "date": fr_date(clock.paris_day(version.created_at)),
        "prochaine_reevaluation": fr_date(version.next_review_on),
        "objectifs": [
            {
                "intitule": o.title,
                "actions": [
                    {
                        "quoi": a.what,
                        "qui": assignee_label(a, users),
                        "echeance": fr_date(a.due_on),
                        "statut": label(ACTION_STATUS_LABELS, a.status),
                    }
                    for a in o.actions
                ],
            }
            for o in content.objectives
        ],
    }


def _last_meeting(patient_id: int, author: User) -> dict[str, Any]:
    """The last concertation where the patient was discussed that the author may read, with
    its decisions (another team's meetings about the patient stay with that team)."""
    discussed = [
        (meeting, item)
        for meeting, item in meeting_queries.meetings_for_patient(patient_id, author)
        if item.status == ItemStatus.DISCUSSED
    ]
    if not discussed:
        return dict(_NO_MEETING)
    meeting, item = discussed[0]  # latest first
    decisions = meeting_queries.decisions_of([item.id])[item.id]
    return {
        "existe": True,
        "date": fr_date(clock.paris_day(meeting.starts_at)),
        "titre": meeting.title,
        "synthese": item.summary or "",
        "decisions": [describe(d.kind, d.payload) for d in decisions],
    }


def letter_context(
    patient: Patient, team: CareTeam, author: User, addressee: str
) -> dict[str, Any]:
    """Build the plain data a template is filled with, from the patient record."""
    gp = db.session.get(User, patient.gp_user_id) if patient.gp_user_id else None
    return {
        "patient": _patient(patient),
        "medecin_traitant": _person(gp, patient.gp_name),
        "cercle": [
            {"nom": m.name, "profession": m.profession, "qualite": m.basis}
            for m in team_queries.circle(patient)
        ],
        "aidants": [
            {"nom": c.name, "lien": c.relationship_label, "type": c.kind, "telephone": c.phone}
            for c in team_queries.list_patient_contacts(patient.id)
        ],
        "plan": _plan(patient.id),
        "derniere_concertation": _last_meeting(patient.id, author),
        "auteur": _person(author),
        "equipe": {"nom": team.name, "structure": team.structure.name},
        "destinataire": addressee,
        "date_du_jour": fr_date(clock.paris_today()),
    }


SAMPLE: dict[str, Any] = {
    "patient": {
        "nom": "DUPONT",
        "prenom": "Jeanne",
        "nom_naissance": "MARTIN",
        "prenoms": "Jeanne Marie",
        "date_naissance": "12/05/1940",
        "sexe": "Féminin",
        "ne_le": "Née le",
        "adresse": "3 rue des Lilas",
        "code_postal": "69003",
        "ville": "Lyon",
        "telephone": "04 00 00 00 00",
    },
    "medecin_traitant": {"nom": "Dr Paul Durand", "profession": "Médecin", "rpps": "10000000000"},
    "cercle": [
        {"nom": "Claire Petit", "profession": "Infirmier", "qualite": "Équipe DAC Lyon"},
        {"nom": "Marc Roux", "profession": "Masseur-kinésithérapeute", "qualite": "Invité"},
    ],
    "aidants": [{"nom": "Luc Dupont", "lien": "Fils", "type": "caregiver", "telephone": ""}],
    "plan": {
        "existe": True,
        "version": "3",
        "statut": "En vigueur",
        "date": "02/11/2026",
        "prochaine_reevaluation": "02/02/2027",
        "objectifs": [
            {
                "intitule": "Rester à domicile en sécurité",
                "actions": [
                    {
                        "quoi": "Installer une téléassistance",
                        "qui": "CCAS de Lyon",
                        "echeance": "15/12/2026",
                        "statut": "Prévue",
                    }
                ],
            }
        ],
    },
    "derniere_concertation": {
        "existe": True,
        "date": "20/11/2026",
        "titre": "Concertation mensuelle",
        "synthese": "Situation stabilisée.",
        "decisions": ["Ajouter un passage infirmier le soir"],
    },
    "auteur": {"nom": "Dr Anne Lefort", "profession": "Médecin", "rpps": "10000000001"},
    "equipe": {"nom": "DAC Lyon", "structure": "DAC du Rhône"},
    "destinataire": "Dr Martin, cardiologue",
    "date_du_jour": "07/12/2026",
}
