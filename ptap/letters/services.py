"""Letter templates and letters: write, edit, sign, then ask for filing and sending.

The PDF/A of a signed letter, the DMP filing and the MSSanté sendings are done by the letters
job (``tasks.py``), never in a request: here they are only asked for, in the caller's
transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from ptap import dmp_bridge
from ptap.accounts.models import User
from ptap.audit.services import AuditContext, record_event
from ptap.care_teams import access, circle
from ptap.care_teams.models import CareTeam, Patient
from ptap.core import mail, outbox
from ptap.core.errors import Conflict, InvalidInput, PermissionDenied
from ptap.core.ins import is_valid_nir
from ptap.core.models import utcnow
from ptap.core.policy import require
from ptap.core.sql import insert_if_absent
from ptap.extensions import db
from ptap.letters import placeholders, rendering
from ptap.letters.models import (
    Letter,
    LetterKind,
    LetterSending,
    LetterStatus,
    LetterTemplate,
    LetterTemplateVersion,
    PdfStatus,
)

MAX_BODY_CHARS = rendering.MAX_OUTPUT_CHARS

#: Control characters (line breaks included): refused in one-line fields that become mail
#: headers or PDF lines (the subject, the addressee).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

NO_INS = "Identité INS absente ou non qualifiée : envoi MSSanté impossible."

CONSENT_REFUSED = (
    "Le patient a refusé ou retiré son consentement au partage de ses informations : "
    "aucune lettre ne peut être rédigée ni envoyée à son sujet."
)
CONSENT_MISSING = (
    "Le consentement du patient au partage de ses informations n'est pas enregistré : "
    "recueillez-le avant de rédiger ou d'envoyer une lettre."
)


@dataclass(frozen=True)
class TemplateData:
    """What a coordinator types for a template (the kind is fixed at creation)."""

    name: str
    subject: str
    body: str
    kind: str = LetterKind.REFERRAL


def _check_template(data: TemplateData) -> None:
    if not data.name.strip():
        raise InvalidInput("Donnez un nom au modèle.", field="name")
    if len(data.name) > 200:
        raise InvalidInput("Nom trop long (200 caractères).", field="name")
    if data.kind not in LetterKind.__members__.values():
        raise InvalidInput("Choisissez le type de lettre.", field="kind")
    if len(data.subject) > 300:
        raise InvalidInput("Objet trop long (300 caractères).", field="subject")
    _check_one_line(data.subject, "subject", "L'objet")
    if not data.body.strip():
        raise InvalidInput("Le texte du modèle est vide.", field="body")
    for field, text in (("subject", data.subject), ("body", data.body)):
        names = rendering.check_syntax(text, field)
        rendering.check_placeholders(names, placeholders.KNOWN, field)
        # Filled once with sample data: a forbidden access or a misspelt field shows now.
        rendering.render_text(text, placeholders.SAMPLE, field)


def _check_one_line(value: str, field: str, what: str) -> None:
    """Refuse control characters (a line break in a mail header) in a one-line field."""
    if _CONTROL.search(value):
        raise InvalidInput(
            f"{what} ne doit contenir ni retour à la ligne ni caractère de contrôle.", field=field
        )


def preview_template(data: TemplateData) -> tuple[str, str]:
    """Fill a template text with the sample record (sandboxed); InvalidInput names the line."""
    _check_template(data)
    return (
        rendering.render_text(data.subject, placeholders.SAMPLE, "subject"),
        rendering.render_text(data.body, placeholders.SAMPLE, "body"),
    )


def create_template(
    user: User, team: CareTeam, data: TemplateData, ctx: AuditContext
) -> LetterTemplate:
    """Create a team's template and its version 1 (coordinators); nothing stored if invalid."""
    require(user, "letter_templates.manage", team)
    _check_template(data)
    template = LetterTemplate(
        team_id=team.id, kind=data.kind, name=data.name.strip(), created_by_id=user.id
    )
    db.session.add(template)
    db.session.flush()
    _add_version(user, template, data, 1)
    record_event(
        ctx, "letter_template.create", object_type="letter_template", object_id=template.id
    )
    return template


def _add_version(
    user: User, template: LetterTemplate, data: TemplateData, number: int
) -> LetterTemplateVersion:
    version = LetterTemplateVersion(
        template_id=template.id,
        number=number,
        subject=data.subject.strip(),
        body=data.body,
        created_by_id=user.id,
        created_at=utcnow(),
    )
    db.session.add(version)
    template.current_number = number
    template.updated_at = utcnow()
    db.session.flush()
    return version


def current_version(template: LetterTemplate) -> LetterTemplateVersion:
    """Return the version in force of a template."""
    return db.session.scalars(
        sa.select(LetterTemplateVersion).where(
            LetterTemplateVersion.template_id == template.id,
            LetterTemplateVersion.number == template.current_number,
        )
    ).one()


def update_template(
    user: User, template: LetterTemplate, data: TemplateData, ctx: AuditContext
) -> LetterTemplateVersion:
    """Save a template: a changed text makes a new version (letters keep theirs)."""
    require(user, "letter_templates.manage", db.session.get(CareTeam, template.team_id))
    if template.archived_at is not None:
        raise Conflict("Ce modèle est retiré : il ne peut plus être modifié.")
    _check_template(TemplateData(data.name, data.subject, data.body, template.kind))
    template.name = data.name.strip()
    version = current_version(template)
    if (version.subject, version.body) != (data.subject.strip(), data.body):
        version = _add_version(user, template, data, version.number + 1)
    template.updated_at = utcnow()
    db.session.flush()
    record_event(
        ctx,
        "letter_template.update",
        object_type="letter_template",
        object_id=template.id,
        reason=f"version {version.number}",
    )
    return version


def archive_template(user: User, template: LetterTemplate, ctx: AuditContext) -> None:
    """Withdraw a template: no new letter from it (the letters written keep their version)."""
    require(user, "letter_templates.manage", db.session.get(CareTeam, template.team_id))
    if template.archived_at is None:
        template.archived_at = utcnow()
        db.session.flush()
        record_event(
            ctx, "letter_template.archive", object_type="letter_template", object_id=template.id
        )


# --- letters ---------------------------------------------------------------------------------


def require_sharing_consent(patient: Patient) -> None:
    """Refuse (InvalidInput on ``patient_id``) when the patient's consent forbids sharing."""
    if circle.sharing_refused(patient.id):
        raise InvalidInput(CONSENT_REFUSED, field="patient_id")
    if not patient.sharing_consent:
        raise InvalidInput(CONSENT_MISSING, field="patient_id")


def create_letter(
    user: User,
    patient: Patient,
    template: LetterTemplate,
    addressee: str,
    ctx: AuditContext,
) -> Letter:
    """Write a letter for the patient from the template's current version (a draft)."""
    require(user, "letters.create", patient)
    if template.archived_at is not None:
        raise InvalidInput("Ce modèle a été retiré.", field="template_id")
    if not access.is_team_member(user.id, template.team_id) or (
        template.team_id not in access.active_enrolment_team_ids(patient.id)
    ):
        raise InvalidInput(
            "Choisissez un modèle d'une de vos équipes qui suit ce patient.", field="template_id"
        )
    require_sharing_consent(patient)
    if len(addressee) > 300:
        raise InvalidInput("Destinataire trop long (300 caractères).", field="addressee")
    _check_one_line(addressee, "addressee", "Le destinataire")
    team = db.session.get_one(CareTeam, template.team_id)
    version = current_version(template)
    context = placeholders.letter_context(patient, team, user, addressee.strip())
    try:
        subject = rendering.render_text(version.subject, context, "subject") or template.name
        body = rendering.render_text(version.body, context, "body")
    except InvalidInput as exc:  # the template is at fault, not the letter being written
        raise InvalidInput(
            f"Le modèle ne peut pas être rempli pour ce patient : {exc.message}",
            field="template_id",
        ) from None
    letter = Letter(
        patient_id=patient.id,
        team_id=team.id,
        template_version_id=version.id,
        kind=template.kind,
        addressee=addressee.strip(),
        subject=" ".join(_CONTROL.sub(" ", subject).split())[:300],
        body=body,
        author_id=user.id,
    )
    db.session.add(letter)
    db.session.flush()
    _audit(ctx, "letter.create", letter, f"template {template.id} v{version.number}")
    return letter


def _audit(ctx: AuditContext, action: str, letter: Letter, reason: str = "") -> None:
    record_event(
        ctx,
        action,
        object_type="letter",
        object_id=letter.id,
        patient_id=letter.patient_id,
        reason=reason,
    )


def edit_letter(
    user: User, letter: Letter, *, subject: str, body: str, addressee: str, ctx: AuditContext
) -> Letter:
    """Change the text of a letter not yet signed (its author)."""
    if letter.is_signed:
        raise Conflict("Cette lettre est signée : elle ne peut plus être modifiée.")
    require(user, "letter.edit", letter)
    if not subject.strip():
        raise InvalidInput("Indiquez l'objet de la lettre.", field="subject")
    if len(subject) > 300:
        raise InvalidInput("Objet trop long (300 caractères).", field="subject")
    _check_one_line(subject, "subject", "L'objet")
    if not body.strip():
        raise InvalidInput("Le texte de la lettre est vide.", field="body")
    if len(body) > MAX_BODY_CHARS:
        raise InvalidInput(f"Texte trop long ({MAX_BODY_CHARS} caractères).", field="body")
    if len(addressee) > 300:
        raise InvalidInput("Destinataire trop long (300 caractères).", field="addressee")
    _check_one_line(addressee, "addressee", "Le destinataire")
    new = (subject.strip(), body, addressee.strip())
    if new != (letter.subject, letter.body, letter.addressee):
        # Conditional on the letter still being unsigned in the database: a signature
        # committed meanwhile by another request wins, and this edit is refused.
        now = utcnow()
        changed = _update_unsigned(
            letter,
            subject=new[0],
            body=new[1],
            addressee=new[2],
            status=LetterStatus.EDITED,
            updated_at=now,
        )
        if not changed:
            raise Conflict(SIGNED_MEANWHILE)
        _audit(ctx, "letter.edit", letter)
    return letter


SIGNED_MEANWHILE = (
    "Cette lettre vient d'être signée : elle ne peut plus être modifiée. "
    "Rechargez la page pour voir sa version signée."
)


def _update_unsigned(letter: Letter, **values: object) -> bool:
    """Write ``values`` on the letter only if it is not signed in the database (one UPDATE).

    Returns False (nothing written) when another transaction signed it meanwhile: under
    PostgreSQL the UPDATE waits for that transaction and then re-checks the condition.
    """
    db.session.flush()
    result = db.session.execute(
        sa.update(Letter)
        .where(Letter.id == letter.id, Letter.status != LetterStatus.SIGNED)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        db.session.expire(letter)
        return False
    for key, value in values.items():
        set_committed_value(letter, key, value)
    return True


def sign_letter(user: User, letter: Letter, ctx: AuditContext) -> Letter:
    """Sign a letter (its author, a professional with an RPPS); its PDF/A is then rendered."""
    if letter.is_signed:
        raise Conflict("Cette lettre est déjà signée.")
    require(user, "letter.read", letter)
    if letter.author_id != user.id:
        raise PermissionDenied("Seul l'auteur de la lettre peut la signer.")
    if not user.rpps:
        raise InvalidInput(
            "Seul un professionnel identifié par son numéro RPPS peut signer une lettre.",
            field="rpps",
        )
    now = utcnow()
    if not _update_unsigned(
        letter,
        status=LetterStatus.SIGNED,
        signed_at=now,
        signed_rpps=user.rpps,
        pdf_status=PdfStatus.PENDING,
        updated_at=now,
    ):
        raise Conflict("Cette lettre est déjà signée.")
    _audit(ctx, "letter.sign", letter)
    return letter


def _require_dispatchable(user: User, letter: Letter, patient: Patient) -> None:
    if not letter.is_signed:
        raise Conflict("La lettre doit être signée avant d'être déposée ou envoyée.")
    require(user, "letter.dispatch", letter)
    require_sharing_consent(patient)


def require_ins(patient: Patient) -> None:
    """Refuse (InvalidInput on ``to``) an MSSanté sending for a patient without a qualified INS.

    The IHE_XDM.ZIP of the message holds a CDA document, which needs the patient's INS.
    """
    if not (
        patient.is_qualified
        and patient.ins_oid
        and patient.ins_matricule
        and is_valid_nir(patient.ins_matricule)
    ):
        raise InvalidInput(NO_INS, field="to")


def request_letter_filing(user: User, letter: Letter, ctx: AuditContext) -> Letter:
    """Ask for the filing of a signed letter to the DMP (once; queued when the PDF is ready)."""
    from flask import current_app

    patient = db.session.get_one(Patient, letter.patient_id)
    _require_dispatchable(user, letter, patient)
    if not current_app.config["DMP_ENABLED"]:
        raise Conflict("L'envoi au DMP n'est pas activé sur cette plateforme.")
    if letter.dmp_requested_at is not None:
        raise Conflict("Le dépôt de cette lettre au DMP a déjà été demandé.")
    letter.dmp_requested_at = utcnow()
    letter.dmp_requested_by_id = user.id
    db.session.flush()
    _audit(ctx, "letter.file", letter)
    return letter


def send_letter(user: User, letter: Letter, to: str, ctx: AuditContext) -> LetterSending:
    """Ask for the sending of a signed letter to an MSSanté address (queued by the job)."""
    patient = db.session.get_one(Patient, letter.patient_id)
    address = to.strip().lower()
    if not mail.is_valid_mssante_address(address):
        raise InvalidInput(
            "Adresse de messagerie sécurisée de santé (MSSanté) invalide.", field="to"
        )
    _require_dispatchable(user, letter, patient)
    require_ins(patient)
    inserted = insert_if_absent(
        LetterSending,
        letter_id=letter.id,
        recipient=address,
        requested_by_id=user.id,
        requested_at=utcnow(),
        error="",
    )
    if not inserted:
        raise Conflict("Cette lettre a déjà été envoyée à cette adresse.", field="to")
    sending = db.session.scalars(
        sa.select(LetterSending).where(
            LetterSending.letter_id == letter.id, LetterSending.recipient == address
        )
    ).one()
    _audit(ctx, "letter.send", letter, address)
    return sending


# --- done by the letters job (tasks.py) -------------------------------------------------------


#: Rendering attempts of a PDF before it is left failed (then "Relancer" asks again).
PDF_MAX_ATTEMPTS = 4
PDF_BACKOFF_SECONDS = 60.0
PDF_BACKOFF_MAX_SECONDS = 3600.0
PDF_RETRYING = "La préparation du PDF a échoué ; un nouvel essai est prévu automatiquement."
PDF_FAILED = (
    "La préparation du PDF a échoué plusieurs fois. Relancez-la ; si l'échec persiste, "
    "signalez-le à l'assistance."
)


def store_letter_pdf(letter: Letter, pdf: bytes | None) -> None:
    """Keep the rendered PDF/A of a signed letter, or count a failed attempt.

    A failure is tried again with backoff up to PDF_MAX_ATTEMPTS attempts, then left failed.
    The users see a French sentence; the job logs the exception itself.
    """
    if pdf is None:
        letter.pdf_attempts += 1
        if letter.pdf_attempts < PDF_MAX_ATTEMPTS:
            letter.pdf_error = PDF_RETRYING
            letter.pdf_next_attempt_at = utcnow() + outbox.backoff(
                letter.pdf_attempts, PDF_BACKOFF_SECONDS, PDF_BACKOFF_MAX_SECONDS
            )
        else:
            letter.pdf_status = PdfStatus.FAILED
            letter.pdf_error = PDF_FAILED
            letter.pdf_next_attempt_at = None
    else:
        letter.pdf = pdf
        letter.pdf_status = PdfStatus.READY
        letter.pdf_error = ""
        letter.pdf_rendered_at = utcnow()
        letter.pdf_next_attempt_at = None
    db.session.flush()


def retry_letter_pdf(user: User, letter: Letter, ctx: AuditContext) -> Letter:
    """Ask again for the PDF of a letter whose rendering failed (its author or a coordinator)."""
    require(user, "letter.dispatch", letter)
    if letter.pdf_status != PdfStatus.FAILED:
        raise Conflict("Seule une préparation de PDF en échec peut être relancée.")
    letter.pdf_status = PdfStatus.PENDING
    letter.pdf_attempts = 0
    letter.pdf_next_attempt_at = None
    letter.pdf_error = ""
    db.session.flush()
    _audit(ctx, "letter.pdf.retry", letter)
    return letter


def queue_letter_filing(letter: Letter) -> None:
    """Queue the DMP filing asked for a letter whose PDF is ready (the bridge's outbox row)."""
    from ptap.letters.documents import DMP_KINDS, SOURCE_TYPE

    row = dmp_bridge.request_filing(
        kind=DMP_KINDS[LetterKind(letter.kind)],
        set_key=f"{SOURCE_TYPE}:{letter.id}",
        source_ref=f"{SOURCE_TYPE}:{letter.id}",
        patient_id=letter.patient_id,
        team_id=letter.team_id,
        title=letter.subject,
        requested_by_id=letter.dmp_requested_by_id,
    )
    letter.dmp_submission_id = row.id
    db.session.flush()
    record_event(
        AuditContext(actor_label="system"),
        "letter.file.queued",
        object_type="letter",
        object_id=letter.id,
        patient_id=letter.patient_id,
        reason=f"dmp_submission {row.id}",
    )


MAIL_BODY = (
    "Bonjour,\n\n"
    "Vous trouverez ci-joint le document « {subject} » ({kind}), signé par {author}, "
    "au format PDF et au format CDA (IHE_XDM.ZIP).\n\n"
    "Ce message vous est adressé par messagerie sécurisée de santé (MSSanté) depuis la "
    "plateforme PTAP de {team}.\n"
)


def queue_letter_sending(sending: LetterSending) -> None:
    """Queue the MSSanté e-mail of a sending (PDF + IHE_XDM.ZIP), once the PDF is ready."""
    from ptap.letters.documents import letter_document
    from ptap.letters.models import LETTER_KIND_LABELS

    letter = db.session.get_one(Letter, sending.letter_id)
    patient = db.session.get_one(Patient, letter.patient_id)
    try:
        require_sharing_consent(patient)
        require_ins(patient)
    except InvalidInput as exc:
        sending.error = exc.message
        db.session.flush()
        return
    document = letter_document(letter.id, True)
    attachments = [
        mail.MailAttachment(f"lettre-{letter.id}.pdf", "application/pdf", letter.pdf or b""),
        mail.MailAttachment("IHE_XDM.ZIP", "application/zip", dmp_bridge.build_xdm_zip(document)),
    ]
    team = db.session.get_one(CareTeam, letter.team_id)
    author = db.session.get_one(User, letter.author_id)
    message = mail.queue_mail(
        sending.recipient,
        letter.subject[:200],
        MAIL_BODY.format(
            subject=letter.subject,
            kind=LETTER_KIND_LABELS.get(LetterKind(letter.kind), ""),
            author=author.full_name,
            team=team.name,
        ),
        attachments=attachments,
        kind=mail.MailKind.MSSANTE,
    )
    if message is None:
        sending.error = "La messagerie n'est pas configurée sur cette plateforme."
    else:
        sending.mail_id = message.id
    db.session.flush()


def mssante_send_gate(row: mail.MailMessage) -> str | None:
    """Cancel a queued MSSanté e-mail of a letter whose patient no longer consents to sharing.

    Run by the mail job just before sending (registered in ``documents.register``): consent may
    be withdrawn after the letter was queued.
    """
    sending = db.session.scalars(
        sa.select(LetterSending).where(LetterSending.mail_id == row.id)
    ).first()
    if sending is None:
        return None
    letter = db.session.get_one(Letter, sending.letter_id)
    try:
        require_sharing_consent(db.session.get_one(Patient, letter.patient_id))
    except InvalidInput as exc:
        return exc.message
    return None
