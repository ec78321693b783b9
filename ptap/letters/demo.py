"""Letters for `ptap demo`: each demo team's two templates, and signed letters to look at.

In the first two teams, a physician of the team writes a referral letter (signed, its PDF/A
rendered, filed to the DMP: the simulator receives it) and a home assessment report (signed,
sent by MSSanté: the local mail sink receives it), and leaves a third letter in draft. The
letters go through the services, as a person would write them; their PDFs are rendered, and
the filing and the sending queued, by the letters job as in production (ptap.letters.tasks,
run by the scheduler of `ptap run` within seconds): rendering and the CDA checks of the
sending would otherwise take most of the demo's time.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from flask import current_app

from ptap.accounts.models import Profession, User
from ptap.audit.services import AuditContext
from ptap.care_teams.models import (
    CareTeam,
    Enrolment,
    IdentityStatus,
    Patient,
    TeamMembership,
    TeamRole,
)
from ptap.extensions import db
from ptap.letters import services
from ptap.letters.models import LetterKind, LetterTemplate
from ptap.letters.services import TemplateData
from ptap.meetings.models import ItemStatus, MeetingAgendaItem

DEMO_RECIPIENT = "dr.martin@medecin.mssante.fr"

REFERRAL = TemplateData(
    name="Lettre d'adressage au spécialiste",
    kind=LetterKind.REFERRAL,
    subject="Adressage de {{ patient.prenom }} {{ patient.nom }}",
    body="""{{ destinataire or "Chère consœur, cher confrère" }},

Je vous adresse {{ patient.prenom }} {{ patient.nom }}, {{ patient.ne_le|lower }} \
{{ patient.date_naissance }}, suivi(e) par l'équipe {{ equipe.nom }} ({{ equipe.structure }}).
Son médecin traitant est {{ medecin_traitant.nom or "non renseigné" }}.

{% if plan.existe %}
Son plan personnalisé de coordination (version {{ plan.version }} du {{ plan.date }}, \
{{ plan.statut|lower }}) retient les objectifs suivants :
{% for o in plan.objectifs %}
- {{ o.intitule }}{% for a in o.actions %} ; {{ a.quoi }} ({{ a.qui }}{% if a.echeance %}, \
avant le {{ a.echeance }}{% endif %}){% endfor %}

{% endfor %}
{% endif %}
{% if derniere_concertation.existe %}
Lors de la concertation du {{ derniere_concertation.date }}, l'équipe a décidé :
{% for d in derniere_concertation.decisions %}
- {{ d }}
{% endfor %}

{% endif %}
Je vous remercie de bien vouloir la recevoir en consultation et de me tenir informé(e).

Bien confraternellement,
""",
)

HOME_ASSESSMENT = TemplateData(
    name="Compte rendu d'évaluation à domicile",
    kind=LetterKind.HOME_ASSESSMENT,
    subject="Évaluation à domicile de {{ patient.prenom }} {{ patient.nom }}",
    body="""Compte rendu de la visite à domicile du {{ date_du_jour }}

Personne : {{ patient.prenom }} {{ patient.nom }}, {{ patient.ne_le|lower }} \
{{ patient.date_naissance }}
Adresse : {{ patient.adresse }} {{ patient.code_postal }} {{ patient.ville }}
Médecin traitant : {{ medecin_traitant.nom or "non renseigné" }}

Entourage :
{% for c in aidants %}
- {{ c.nom }}{% if c.lien %} ({{ c.lien }}){% endif %}
{% else %}
- aucun aidant connu
{% endfor %}

Professionnels intervenant :
{% for m in cercle %}
- {{ m.nom }}, {{ m.profession }}
{% endfor %}

Observations : à compléter.
""",
)

ASSESSMENT_TEXT = (
    "Logement de plain-pied, salle de bain avec baignoire : une douche à l'italienne est "
    "conseillée. La personne se déplace avec une canne ; deux tapis glissants ont été retirés. "
    "L'aidante principale exprime une fatigue importante : un accueil de jour est proposé."
)


def load_letters_demo(team_ids: Sequence[int]) -> int:
    """Create the demo teams' templates and letters unless there are some (flushes, no commit).

    Returns the number of letters written.
    """
    if not team_ids or db.session.scalar(
        sa.select(LetterTemplate.id).where(LetterTemplate.team_id.in_(team_ids)).limit(1)
    ):
        return 0
    ctx = AuditContext(actor_label="demo")
    written = 0
    for n, team_id in enumerate(team_ids):
        team = db.session.get_one(CareTeam, team_id)
        coordinator = _member(team_id, role=TeamRole.COORDINATOR)
        if coordinator is None:
            continue
        referral = services.create_template(coordinator, team, REFERRAL, ctx)
        assessment = services.create_template(coordinator, team, HOME_ASSESSMENT, ctx)
        physician = _member(team_id, profession=Profession.PHYSICIAN)
        if n >= 2 or physician is None:
            continue
        patients = _patients(team_id, 3)
        if len(patients) < 3:
            continue
        first = services.create_letter(
            physician, patients[0], referral, "Dr Martin, cardiologue", ctx
        )
        services.sign_letter(physician, first, ctx)
        if current_app.config["DMP_ENABLED"]:
            services.request_letter_filing(physician, first, ctx)
        second = services.create_letter(physician, patients[1], assessment, "", ctx)
        services.edit_letter(
            physician,
            second,
            subject=second.subject,
            body=second.body.replace("Observations : à compléter.", ASSESSMENT_TEXT),
            addressee="",
            ctx=ctx,
        )
        services.sign_letter(physician, second, ctx)
        services.send_letter(physician, second, DEMO_RECIPIENT, ctx)
        services.create_letter(physician, patients[2], referral, "", ctx)  # left in draft
        written += 3
    db.session.flush()
    return written


def _member(team_id: int, *, role: str | None = None, profession: str | None = None) -> User | None:
    """The first active member of the team with this team role or profession (RPPS to sign)."""
    stmt = (
        sa.select(User)
        .join(TeamMembership, TeamMembership.user_id == User.id)
        .where(
            TeamMembership.team_id == team_id,
            TeamMembership.ends_on.is_(None),
            User.active.is_(True),
        )
        .order_by(TeamMembership.id)
        .limit(1)
    )
    if role is not None:
        stmt = stmt.where(TeamMembership.role == role)
    if profession is not None:
        stmt = stmt.where(User.profession == profession, User.rpps.is_not(None))
    return db.session.scalar(stmt)


def _patients(team_id: int, count: int) -> list[Patient]:
    """Patients followed by the team who agreed to sharing, with a qualified identity; those
    discussed in a concertation first (their letters show its decisions)."""
    discussed = set(
        db.session.scalars(
            sa.select(MeetingAgendaItem.patient_id).where(
                MeetingAgendaItem.status == ItemStatus.DISCUSSED
            )
        )
    )
    candidates = list(
        db.session.scalars(
            sa.select(Patient)
            .join(Enrolment, Enrolment.patient_id == Patient.id)
            .where(
                Enrolment.team_id == team_id,
                Enrolment.ended_at.is_(None),
                Patient.sharing_consent.is_(True),
                Patient.dmp_opposition.is_(False),
                Patient.identity_status == IdentityStatus.QUALIFIED,
            )
            .order_by(Patient.id)
            .limit(50)
        )
    )
    candidates.sort(key=lambda p: p.id not in discussed)
    return candidates[:count]
