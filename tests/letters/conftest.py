"""Fixtures of the letters tests: a team, its people, a patient with a plan, a template.

Until the MSSanté branch lands, ``ptap.core.mail.queue_mail`` / ``MailAttachment`` /
``is_valid_mssante_address`` and ``ptap.dmp_bridge.build_xdm_zip`` may be missing: the ``outbox``
fixture then puts small stand-ins following the agreed contract (tests only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pytest

from ptap import dmp_bridge
from ptap.audit.services import AuditContext
from ptap.core import clock, mail
from ptap.core.clock import PARIS
from ptap.letters import services
from ptap.letters.services import TemplateData
from tests.factories import add_member, make_patient, make_team, make_user, valid_rpps

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=PARIS)

BODY = """Madame, Monsieur,

Je vous adresse {{ patient.prenom }} {{ patient.nom }}, {{ patient.ne_le|lower }} {{ patient.date_naissance }}.
Médecin traitant : {{ medecin_traitant.nom or "non renseigné" }}.
{% if plan.existe %}
Plan en vigueur (version {{ plan.version }}) :
{% for o in plan.objectifs %}
- {{ o.intitule }}{% for a in o.actions %} / {{ a.quoi }} ({{ a.qui }}){% endfor %}

{% endfor %}
{% endif %}
Cercle : {% for m in cercle %}{{ m.nom }} ({{ m.profession }}){% if not loop.last %}, {% endif %}{% endfor %}


{{ auteur.nom }}
"""


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
    with clock.frozen(NOW):
        yield World(team, other_team, coord, physician, nurse, outsider, patient, gp, template)


@dataclass(frozen=True)
class _Attachment:
    filename: str
    content_type: str
    data: bytes


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch, app):
    """Record queued MSSanté mails; the contract's stand-ins only where the real ones lack."""
    queued: list[dict] = []
    real_queue = getattr(mail, "queue_mail", None)
    if not hasattr(mail, "MailAttachment"):
        monkeypatch.setattr(mail, "MailAttachment", _Attachment, raising=False)
    if not hasattr(mail, "is_valid_mssante_address"):
        monkeypatch.setattr(
            mail,
            "is_valid_mssante_address",
            lambda addr: addr.endswith(".mssante.fr") and "@" in addr,
            raising=False,
        )
    if not hasattr(dmp_bridge, "build_xdm_zip"):
        monkeypatch.setattr(
            dmp_bridge, "build_xdm_zip", lambda doc: b"PK-xdm-" + doc.pdf[:4], raising=False
        )

    def queue(to, subject, body, *, attachments=(), kind="notification"):
        queued.append(
            {"to": to, "subject": subject, "attachments": list(attachments), "kind": kind}
        )
        try:
            return real_queue(to, subject, body, attachments=attachments, kind=kind)
        except TypeError:  # the pre-MSSanté queue_mail takes no attachments
            return real_queue(to, subject, body)

    monkeypatch.setattr(mail, "queue_mail", queue)
    app.config["MAIL_TRANSPORT"] = "memory"
    return queued
