"""JSON API of care-pathway events: a patient's events, recording one, withdrawing one.

The patient is loaded through need-to-know (404 outside the circle, audited).
"""

from __future__ import annotations

from flask import request
from flask_login import current_user

from ptap.audit.context import request_context
from ptap.care_events import queries, services
from ptap.care_events.models import CareEvent
from ptap.care_events.schemas import CareEventCreate, CareEventOut
from ptap.care_teams.loaders import load_patient
from ptap.core.api import Page, api_route, page_limit, paginate_keyset
from ptap.extensions import db

TAGS = ("Événements de parcours",)


@api_route(
    "/patients/<int:patient_id>/events",
    summary="Les événements du parcours du patient (hospitalisations non programmées, passages "
    "aux urgences, entrée en établissement, retour à domicile, décès, perte de l'aidant), "
    "les plus récents d'abord (accès tracé)",
    access="care_events.list",
    response=CareEventOut,
    paginated=True,
    tags=TAGS,
)
def list_events(patient_id: int):
    patient = load_patient(patient_id, what="events")
    db.session.commit()  # the read is audited even if what follows fails
    page = paginate_keyset(
        queries.patient_events_query(patient.id),
        [CareEvent.occurred_on, CareEvent.id],
        lambda row: (row[0].occurred_on, row[0].id),
        limit=page_limit(),
        cursor=request.args.get("cursor") or None,
        descending=True,
    )
    return Page([CareEventOut.of(row[0]) for row in page.items], page.next_cursor, page.limit)


@api_route(
    "/patients/<int:patient_id>/events",
    "POST",
    summary="Enregistrer un événement du parcours (membres d'une équipe qui suit le patient)",
    access="care_events.list",
    body=CareEventCreate,
    response=CareEventOut,
    status=201,
    tags=TAGS,
)
def record_event(patient_id: int, body: CareEventCreate):
    patient = load_patient(patient_id, "care_events.record")
    event = services.record_care_event(current_user, patient, body.to_data(), request_context())
    db.session.commit()
    return CareEventOut.of(event)


@api_route(
    "/patients/<int:patient_id>/events/<int:event_id>",
    "DELETE",
    summary="Retirer un événement enregistré par erreur (son auteur ou un coordinateur de "
    "l'équipe) ; il reste dans le journal d'audit",
    access="care_events.list",
    status=204,
    tags=TAGS,
)
def withdraw_event(patient_id: int, event_id: int):
    load_patient(patient_id, "care_events.list")
    event = queries.get_event(current_user, patient_id, event_id)
    services.withdraw_care_event(current_user, event, request_context())
    db.session.commit()
    return None
