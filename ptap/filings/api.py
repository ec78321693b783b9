"""JSON API of DMP filings: list and read the outbox rows, download what was sent, act on them.

Routes declare `dmp_submission.view` (clinicians; admins and ARS analysts get 403). Lists show
only the rows of patients the caller sees (need-to-know); one row answers 404 to anyone who may
neither see nor act on it, and 403 to someone who sees it but may not act. The services check
the permission again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Response, request
from flask_login import current_user

from ptap.accounts.sessions import authenticated_with_psc, psc_waived
from ptap.audit.context import note_patients_shown, request_context, shows_patients
from ptap.care_teams.loaders import load_patient
from ptap.core.api import Page, api_route, paginate_by_id
from ptap.core.errors import InvalidInput, NotFound, RuleDenied
from ptap.dmp_bridge import DmpSubmission, SubmissionStatus, list_attempts, payload_info
from ptap.extensions import db
from ptap.filings import consultation, queries, services
from ptap.filings.consult_views import content_response, read_search
from ptap.filings.loaders import load_submission
from ptap.filings.schemas import (
    DmpCancel,
    DmpChangeCreate,
    DmpDocumentOut,
    DmpSubmissionDetail,
    DmpSubmissionOut,
)

FILINGS = ("DMP",)
BASE = "/dmp/submissions"
ONE = f"{BASE}/<int:submission_id>"
MANAGE = "dmp_submission.manage"


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdecimal():
        raise InvalidInput(f"{name} doit être un identifiant numérique.", field=name)
    return int(raw)


def _status_arg() -> str | None:
    raw = request.args.get("status") or None
    if raw is not None and raw not in set(SubmissionStatus):
        allowed = ", ".join(SubmissionStatus)
        raise InvalidInput(f"status doit valoir l'un de : {allowed}.", field="status")
    return raw


def _user():
    return current_user._get_current_object()


@api_route(
    BASE,
    summary="Les envois au DMP des personnes que je suis (besoin d'en connaître), du plus "
    "récent au plus ancien ; filtres patient_id, status, team_id",
    access="dmp_submission.view",
    response=DmpSubmissionOut,
    paginated=True,
    tags=FILINGS,
    query=(
        ("patient_id", "Identifiant de la personne"),
        ("status", "pending, in_progress, filed, blocked, failed ou cancelled"),
        ("team_id", "Identifiant de l'équipe responsable de l'envoi"),
    ),
)
@shows_patients("dmp submissions")
def list_dmp_submissions():
    stmt = queries.submissions_query(
        current_user.id,
        patient_id=_int_arg("patient_id"),
        status=_status_arg(),
        team_id=_int_arg("team_id"),
    )
    page = paginate_by_id(stmt, DmpSubmission.id, descending=True)
    note_patients_shown(row.patient_id for row in page.items)
    return Page([DmpSubmissionOut.of(row) for row in page.items], page.next_cursor, page.limit)


@api_route(
    ONE,
    summary="Un envoi au DMP : statut et motif, identifiants (OID du document et du lot, "
    "entryUUID), tentatives avec leur issue et leur erreur, pièces enregistrées",
    access="dmp_submission.view",
    response=DmpSubmissionDetail,
    tags=FILINGS,
)
@shows_patients("dmp submission")
def get_dmp_submission(submission_id: int):
    row = load_submission(submission_id)
    note_patients_shown([row.patient_id])
    return DmpSubmissionDetail.detail(row, list_attempts(row.id), payload_info(row.id))


def _attachment(part: str, submission_id: int) -> Response:
    row = load_submission(submission_id, MANAGE)
    download = services.download_payload(_user(), row, part, request_context())
    db.session.commit()  # the access to the document is audited
    response = Response(download.content, status=200)
    response.headers["Content-Type"] = download.content_type
    response.headers["Content-Disposition"] = f'attachment; filename="{download.filename}"'
    return response


@api_route(
    f"{ONE}/cda",
    summary="Le document CDA exact envoyé (ou à envoyer), en pièce jointe (accès tracé)",
    access="dmp_submission.view",
    tags=FILINGS,
)
def get_dmp_submission_cda(submission_id: int):
    return _attachment("cda", submission_id)


@api_route(
    f"{ONE}/request",
    summary="La requête HTTP exacte de la dernière tentative (ITI-41), avec son Content-Type "
    "enregistré, en pièce jointe (accès tracé)",
    access="dmp_submission.view",
    tags=FILINGS,
)
def get_dmp_submission_request(submission_id: int):
    return _attachment("request", submission_id)


@api_route(
    f"{ONE}/retry",
    "POST",
    summary="Relancer un envoi en échec (nouveau crédit de tentatives)",
    access="dmp_submission.view",
    response=DmpSubmissionOut,
    tags=FILINGS,
)
def retry_dmp_submission(submission_id: int):
    row = load_submission(submission_id, MANAGE)
    services.retry_filing(_user(), row, request_context())
    db.session.commit()
    return DmpSubmissionOut.of(row)


@api_route(
    f"{ONE}/cancel",
    "POST",
    summary="Annuler un envoi pas encore déposé (en attente, bloqué ou en échec), avec un motif",
    access="dmp_submission.view",
    body=DmpCancel,
    response=DmpSubmissionOut,
    tags=FILINGS,
)
def cancel_dmp_submission(submission_id: int, body: DmpCancel):
    row = load_submission(submission_id, MANAGE)
    services.cancel_filing(_user(), row, body.reason, request_context())
    db.session.commit()
    return DmpSubmissionOut.of(row)


@api_route(
    f"{ONE}/release",
    "POST",
    summary="Débloquer un envoi bloqué une fois la cause levée (identité qualifiée, "
    "consentement) ; il reste bloqué, avec le motif, si elle demeure",
    access="dmp_submission.view",
    response=DmpSubmissionOut,
    tags=FILINGS,
)
def release_dmp_submission(submission_id: int):
    row = load_submission(submission_id, MANAGE)
    services.release_filing(_user(), row, request_context())
    db.session.commit()
    return DmpSubmissionOut.of(row)


@api_route(
    f"{ONE}/dmp-changes",
    "POST",
    summary="Demander au DMP de modifier un document déposé : visibilité, archivage ou "
    "suppression (201 : la demande, envoyée ensuite par la file d'envoi)",
    access="dmp_submission.view",
    body=DmpChangeCreate,
    response=DmpSubmissionOut,
    status=201,
    tags=FILINGS,
)
def request_dmp_submission_change(submission_id: int, body: DmpChangeCreate):
    row = load_submission(submission_id, MANAGE)
    change = services.request_dmp_change(
        _user(), row, body.operation, tuple(body.confidentiality), request_context()
    )
    db.session.commit()
    return DmpSubmissionOut.of(change)


# --- consulting the patient's DMP --------------------------------------------------------------

T = TypeVar("T")
DMP_DOCS = "/patients/<int:patient_id>/dmp/documents"


def _consult_failure(run: Callable[[], T]) -> T:
    """Run a consultation; keep its audit row (refusal, failure) before the error answers."""
    try:
        return run()
    except (RuleDenied, NotFound, consultation.DmpConsultationFailed):
        db.session.commit()
        raise


@api_route(
    DMP_DOCS,
    summary="Les documents du DMP de la personne (ITI-18), du plus récent au plus ancien ; "
    "filtres type (code LOINC), from, to (AAAA-MM-JJ), author. Réservé aux professionnels du "
    "cercle reliés à un RPPS et connectés avec Pro Santé Connect ; accès tracé ; 503 si le "
    "DMP est injoignable (rien n'est conservé)",
    access="patients.list",
    response=DmpDocumentOut,
    paginated=True,
    tags=FILINGS,
    query=(
        ("type", "Code LOINC du type de document (typeCode du DMP)"),
        ("from", "Créés à partir de ce jour (AAAA-MM-JJ)"),
        ("to", "Créés jusqu'à ce jour inclus (AAAA-MM-JJ)"),
        ("author", "Partie du nom de l'auteur"),
    ),
)
def list_patient_dmp_documents(patient_id: int):
    patient = load_patient(patient_id, what="dmp")
    db.session.commit()
    _, search = read_search(request.args)
    listing = _consult_failure(
        lambda: consultation.list_dmp_documents(
            _user(),
            patient,
            search,
            request_context(),
            psc=authenticated_with_psc() or psc_waived(),
        )
    )
    db.session.commit()
    mode = str(listing.mode)
    items = [DmpDocumentOut.of(row, patient.id, mode) for row in listing.rows]
    return Page(items, None, len(items))


@api_route(
    f"{DMP_DOCS}/<unique_id>",
    summary="Un document du DMP de la personne (ITI-43) : PDF (application/pdf), CDA "
    "(application/xml) ou autre format en pièce jointe ; mêmes règles, accès tracé",
    access="patients.list",
    tags=FILINGS,
)
def get_patient_dmp_document(patient_id: int, unique_id: str):
    patient = load_patient(patient_id, what="dmp")
    db.session.commit()
    opened = _consult_failure(
        lambda: consultation.open_dmp_document(
            _user(),
            patient,
            unique_id[:128],
            request_context(),
            psc=authenticated_with_psc() or psc_waived(),
        )
    )
    db.session.commit()
    return content_response(opened, download=True)


# Filing DMP documents into the coordination file (routes on the same API blueprint).
from ptap.filings import filed_api as _filed_api  # noqa: E402, F401
