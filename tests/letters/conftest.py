"""Fixtures of the letters tests: a team, its people, a patient, a referral template."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ptap.audit.services import AuditContext
from ptap.core import mail
from ptap.letters import services
from ptap.letters.services import TemplateData
from tests.factories import add_member, make_patient, make_team, make_user, valid_rpps

BODY = "\n".join(
    [
        "Madame, Monsieur,",
        "",
        "Je vous adresse {{ patient.prenom }} {{ patient.nom }}, "
        "{{ patient.ne_le|lower }} {{ patient.date_naissance }}.",
        'Médecin traitant : {{ medecin_traitant.nom or "non renseigné" }}.',
        "{% if plan.existe %}",
        "Plan en vigueur (version {{ plan.version }}) :",
        "{% for o in plan.objectifs %}",
        "- {{ o.intitule }}{% for a in o.actions %} / {{ a.quoi }} ({{ a.qui }}){% endfor %}",
        "",
        "{% endfor %}",
        "{% endif %}",
        "{% if derniere_concertation.existe %}",
        "Concertation du {{ derniere_concertation.date }} :",
        "{% for d in derniere_concertation.decisions %}",
        "* {{ d }}",
        "{% endfor %}",
        "{% endif %}",
        "Cercle : {% for m in cercle %}{{ m.nom }} ({{ m.profession }})"
        "{% if not loop.last %}, {% endif %}{% endfor %}",
        "",
        "",
        "{{ auteur.nom }}",
        "",
    ]
)


def ctx(user) -> AuditContext:
    return AuditContext(actor_id=user.id, actor_label=user.email)


@dataclass
class World:
    team: object
    other_team: object
    coord: object
    physician: object
    nurse: object
    outsider: object
    patient: object
    gp: object
    template: object


@pytest.fixture
def world(db) -> World:
    team, other_team = make_team("DAC Lyon"), make_team("DAC Vienne")
    coord = make_user(role="coordinator", profession="care_coordinator")
    physician = make_user(profession="physician", rpps=valid_rpps(901))
    nurse = make_user(profession="nurse")
    outsider = make_user(role="coordinator", profession="physician", rpps=valid_rpps(902))
    gp = make_user(
        profession="physician", rpps=valid_rpps(903), first_name="Paul", last_name="Durand"
    )
    add_member(team, coord, "coordinator")
    add_member(team, physician)
    add_member(team, nurse)
    add_member(other_team, outsider, "coordinator")
    patient = make_patient(team, coord, gp_user_id=gp.id)
    template = services.create_template(
        coord,
        team,
        TemplateData("Adressage", "Adressage de {{ patient.nom }}", BODY, "referral"),
        ctx(coord),
    )
    db.session.commit()
    return World(team, other_team, coord, physician, nurse, outsider, patient, gp, template)


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch, app):
    """Record the e-mails the letters queue (the real mail outbox rows are written too)."""
    queued: list[dict] = []
    real_queue = mail.queue_mail

    def queue(to, subject, body, *, attachments=(), kind=mail.MailKind.NOTIFICATION):
        queued.append(
            {"to": to, "subject": subject, "attachments": list(attachments), "kind": kind}
        )
        return real_queue(to, subject, body, attachments=attachments, kind=kind)

    monkeypatch.setattr(mail, "queue_mail", queue)
    app.config["MAIL_TRANSPORT"] = "memory"
    return queued
