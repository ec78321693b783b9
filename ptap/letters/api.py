"""JSON API of letters (/letters) and letter templates (/letter-templates).

Letters are loaded through need-to-know (the patient's record, audited); a letter of a patient
the user may not see is an unknown letter (404). Templates are a team's: its members read them,
its coordinators write them.
"""

from __future__ import annotations

from flask import Response, request
from flask_login import current_user

from ptap.audit.context import note_patients_shown, request_context, shows_patients
from ptap.care_teams import queries as team_queries
from ptap.care_teams.loaders import load_patient
from ptap.care_teams.models import CareTeam
from ptap.core.api import Page, api_route, paginate_by_id
from ptap.core.errors import Conflict, InvalidInput, NotFound
from ptap.core.policy import require
from ptap.extensions import db
from ptap.letters import queries, services
from ptap.letters.models import Letter, LetterTemplate, PdfStatus
from ptap.letters.schemas import (
    LetterCreate,
    LetterEdit,
    LetterOut,
    LetterSend,
    TemplateIn,
    TemplateOut,
    TemplateUpdate,
)

LETTERS = ("Lettres",)
TEMPLATES = ("Modèles de lettres",)


def _load_letter(letter_id: int, action: str = "patient.read") -> Letter:
    """Load a letter through its patient's record (audited); 404 for outsiders."""
    letter = queries.get_letter(current_user, letter_id)
    load_patient(letter.patient_id, action, what="letters")
    return letter


def _out(letter: Letter) -> LetterOut:
    return LetterOut.of(letter, queries.sendings(letter.id))


@api_route(
    "/letters",
    summary="Les lettres d'un patient (patient_id) ou d'une équipe (team_id), les plus récentes "
    "d'abord (accès tracé)",
    access="letters.list",
    response=LetterOut,
    paginated=True,
    tags=LETTERS,
    query=(("patient_id", "Les lettres de ce patient"), ("team_id", "Les lettres de cette équipe")),
)
@shows_patients("letters")
def list_letters():
    raw_patient, raw_team = request.args.get("patient_id", ""), request.args.get("team_id", "")
    if raw_patient.isdecimal() and len(raw_patient) < 10:
        patient = load_patient(int(raw_patient), what="letters")
        db.session.commit()
        stmt = queries.patient_letters_query(patient.id)
    elif raw_team.isdecimal() and len(raw_team) < 10:
        team = db.session.get(CareTeam, int(raw_team))
        if team is None:
            raise NotFound("Équipe introuvable.")
        require(current_user, "letter_templates.list", team)
        stmt = queries.team_letters_query(team.id, current_user.id)
    else:
        raise InvalidInput("Indiquez patient_id ou team_id.", field="patient_id")
    page = paginate_by_id(stmt, Letter.id, descending=True)
    note_patients_shown(letter.patient_id for letter in page.items)
    return Page([_out(letter) for letter in page.items], page.next_cursor, page.limit)


@api_route(
    "/letters",
    "POST",
    summary="Rédiger une lettre pour un patient à partir d'un modèle (rempli depuis le dossier ; "
    "refusé si le consentement du patient interdit le partage)",
    access="letters.list",
    body=LetterCreate,
    response=LetterOut,
    status=201,
    tags=LETTERS,
)
def create_letter(body: LetterCreate):
    patient = load_patient(body.patient_id, "letters.create")
    try:
        template = queries.get_template(current_user, body.template_id)
    except NotFound:
        raise InvalidInput("Modèle de lettre introuvable.", field="template_id") from None
    letter = services.create_letter(
        current_user, patient, template, body.addressee, request_context()
    )
    db.session.commit()
    return _out(letter)


@api_route(
    "/letters/<int:letter_id>",
    summary="Une lettre : texte, statut, PDF, dépôt au DMP et envois MSSanté (accès tracé)",
    access="letters.list",
    response=LetterOut,
    tags=LETTERS,
)
def get_letter(letter_id: int):
    letter = _load_letter(letter_id)
    db.session.commit()
    return _out(letter)


@api_route(
    "/letters/<int:letter_id>",
    "PATCH",
    summary="Modifier le texte d'une lettre non signée (son auteur)",
    access="letters.list",
    body=LetterEdit,
    response=LetterOut,
    tags=LETTERS,
)
def edit_letter(letter_id: int, body: LetterEdit):
    letter = _load_letter(letter_id, "letters.list")
    services.edit_letter(
        current_user,
        letter,
        subject=body.subject,
        body=body.body,
        addressee=body.addressee,
        ctx=request_context(),
    )
    db.session.commit()
    return _out(letter)


@api_route(
    "/letters/<int:letter_id>/sign",
    "POST",
    summary="Signer une lettre (son auteur, professionnel identifié par son RPPS) ; elle devient "
    "non modifiable et son PDF/A est préparé en arrière-plan",
    access="letters.list",
    response=LetterOut,
    tags=LETTERS,
)
def sign_letter(letter_id: int):
    letter = _load_letter(letter_id, "letters.list")
    services.sign_letter(current_user, letter, request_context())
    db.session.commit()
    return _out(letter)


@api_route(
    "/letters/<int:letter_id>/file",
    "POST",
    summary="Déposer une lettre signée au DMP du patient (une fois ; déposée dès que son PDF "
    "est prêt)",
    access="letters.list",
    response=LetterOut,
    tags=LETTERS,
)
def file_letter(letter_id: int):
    letter = _load_letter(letter_id, "letters.list")
    services.request_letter_filing(current_user, letter, request_context())
    db.session.commit()
    return _out(letter)


@api_route(
    "/letters/<int:letter_id>/send",
    "POST",
    summary="Envoyer une lettre signée par messagerie sécurisée de santé (MSSanté) : PDF et "
    "IHE_XDM.ZIP, mis en file dès que le PDF est prêt",
    access="letters.list",
    body=LetterSend,
    response=LetterOut,
    status=202,
    tags=LETTERS,
)
def send_letter(letter_id: int, body: LetterSend):
    letter = _load_letter(letter_id, "letters.list")
    services.send_letter(current_user, letter, body.to, request_context())
    db.session.commit()
    return _out(letter)


@api_route(
    "/letters/<int:letter_id>/pdf/retry",
    "POST",
    summary="Relancer la préparation du PDF d'une lettre dont le rendu a échoué (son auteur ou "
    "un coordinateur de l'équipe)",
    access="letters.list",
    response=LetterOut,
    status=202,
    tags=LETTERS,
)
def retry_letter_pdf(letter_id: int):
    letter = _load_letter(letter_id, "letters.list")
    services.retry_letter_pdf(current_user, letter, request_context())
    db.session.commit()
    return _out(letter)


@api_route(
    "/letters/<int:letter_id>/pdf",
    summary="Le PDF/A d'une lettre signée (409 tant qu'il est en préparation) (accès tracé)",
    access="letters.list",
    tags=LETTERS,
)
def letter_pdf(letter_id: int):
    letter = _load_letter(letter_id)
    db.session.commit()
    return pdf_response(letter)


def pdf_response(letter: Letter) -> Response:
    """Answer the stored PDF of a letter, or a Conflict saying truthfully where it stands."""
    if letter.pdf_status != PdfStatus.READY or not letter.pdf:
        if letter.pdf_status == PdfStatus.FAILED:
            raise Conflict("La préparation du PDF a échoué.")
        if letter.pdf_status == PdfStatus.PENDING:
            raise Conflict("Le PDF est en préparation : réessayez dans un instant.")
        raise Conflict("La lettre n'est pas signée : elle n'a pas de PDF.")
    return Response(
        letter.pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="lettre-{letter.id}.pdf"'},
    )


# --- templates -------------------------------------------------------------------------------


def _template_out(template: LetterTemplate) -> TemplateOut:
    return TemplateOut.of(template, services.current_version(template))


@api_route(
    "/letter-templates",
    summary="Les modèles de lettres de mes équipes (ou d'une équipe : team_id)",
    access="letter_templates.list",
    response=TemplateOut,
    paginated=True,
    tags=TEMPLATES,
    query=(("team_id", "Les modèles de cette équipe"),),
)
def list_letter_templates():
    team_ids = [t.id for t in team_queries.my_teams(current_user.id)]
    raw = request.args.get("team_id", "")
    if raw.isdecimal() and len(raw) < 10:
        team_ids = [t for t in team_ids if t == int(raw)]
    templates = queries.list_templates(team_ids)
    return Page([_template_out(t) for t in templates], None, len(templates))


@api_route(
    "/letter-templates",
    "POST",
    summary="Créer un modèle de lettre (coordinateurs de l'équipe) ; une erreur de syntaxe est "
    "refusée en nommant la ligne",
    access="letter_templates.list",
    body=TemplateIn,
    response=TemplateOut,
    status=201,
    tags=TEMPLATES,
)
def create_letter_template(body: TemplateIn):
    team = db.session.get(CareTeam, body.team_id)
    if team is None:
        raise InvalidInput("Équipe introuvable.", field="team_id")
    template = services.create_template(current_user, team, body.to_data(), request_context())
    db.session.commit()
    return _template_out(template)


@api_route(
    "/letter-templates/<int:template_id>",
    summary="Un modèle de lettre et sa version en vigueur",
    access="letter_templates.list",
    response=TemplateOut,
    tags=TEMPLATES,
)
def get_letter_template(template_id: int):
    return _template_out(queries.get_template(current_user, template_id))


@api_route(
    "/letter-templates/<int:template_id>",
    "PUT",
    summary="Modifier un modèle (coordinateurs) : un texte changé crée une nouvelle version",
    access="letter_templates.list",
    body=TemplateUpdate,
    response=TemplateOut,
    tags=TEMPLATES,
)
def update_letter_template(template_id: int, body: TemplateUpdate):
    template = queries.get_template(current_user, template_id)
    services.update_template(current_user, template, body.to_data(template.kind), request_context())
    db.session.commit()
    return _template_out(template)


@api_route(
    "/letter-templates/<int:template_id>",
    "DELETE",
    summary="Retirer un modèle (coordinateurs) ; les lettres déjà écrites gardent leur version",
    access="letter_templates.list",
    status=204,
    tags=TEMPLATES,
)
def archive_letter_template(template_id: int):
    template = queries.get_template(current_user, template_id)
    services.archive_template(current_user, template, request_context())
    db.session.commit()
    return None
