"""A signed letter as a document: its plain-data context, its PDF/A, its DMP description.

The PDF is rendered by the letters job (``tasks.py``) and stored on the letter; the DMP
provider registered here gives the bridge that stored PDF, so a filing never renders anything
in a request nor twice.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from ptap import dmp_bridge
from ptap.accounts.models import User
from ptap.care_teams.dmp import dmp_author, dmp_organisation, dmp_patient, structure_of_patient
from ptap.care_teams.models import CareTeam, Patient
from ptap.core import clock
from ptap.core.formatting import fr_date, ins_format, local_datetime
from ptap.core.pdf import render_pdf
from ptap.extensions import db
from ptap.letters.models import LETTER_KIND_LABELS, Letter, LetterKind

SOURCE_TYPE = "letter"
TEMPLATE = "pdf/letter.html"

#: DMP document kind (LOINC typeCode in ptap.dmp_bridge.codes) by letter kind.
DMP_KINDS = {
    LetterKind.REFERRAL: dmp_bridge.DocumentKind.REFERRAL_LETTER,
    LetterKind.HOME_ASSESSMENT: dmp_bridge.DocumentKind.VISIT_REPORT,
}


def paragraphs(body: str) -> list[list[str]]:
    """Split a letter's text into paragraphs (blank lines) of lines."""
    blocks = [b for b in body.replace("\r\n", "\n").split("\n\n") if b.strip()]
    return [block.strip("\n").split("\n") for block in blocks]


def letter_context(letter: Letter) -> dict[str, Any]:
    """Build the plain data the letter page preview and the PDF show."""
    patient = db.session.get_one(Patient, letter.patient_id)
    team = db.session.get_one(CareTeam, letter.team_id)
    author = db.session.get_one(User, letter.author_id)
    qualified = patient.is_qualified and bool(patient.ins_matricule)
    return {
        "title": letter.subject,
        "kind_label": LETTER_KIND_LABELS.get(LetterKind(letter.kind), letter.kind),
        "structure": team.structure.name,
        "team": team.name,
        "place_date": f"Le {fr_date(clock.paris_day(letter.signed_at or letter.updated_at))}",
        "addressee": letter.addressee,
        "subject": letter.subject,
        "patient": {
            "name": patient.display_name,
            "born": {"F": "née le", "M": "né le"}.get(patient.sex, "né(e) le"),
            "birth_date": patient.birth_date_label,
            "ins": ins_format(patient.ins_matricule) if qualified else "",
        },
        "paragraphs": paragraphs(letter.body),
        "signature": {
            "name": author.full_name,
            "profession": author.profession_label,
            "signed_at": local_datetime(letter.signed_at) if letter.signed_at else "",
            "rpps": letter.signed_rpps,
        },
    }


def render_letter_pdf(letter: Letter) -> bytes:
    """Render a letter as a PDF/A document (scheduler job only: it takes a while)."""
    return render_pdf(TEMPLATE, letter_context(letter))


def letter_document(letter_id: int, render: bool) -> dmp_bridge.DmpDocument:
    """Describe a signed letter as a DMP document, with its stored PDF/A."""
    letter = db.session.get_one(Letter, letter_id)
    if letter.signed_at is None:
        raise LookupError(f"letter {letter_id} is not signed")
    if render and not letter.pdf:
        raise LookupError(f"letter {letter_id} has no PDF yet")
    organisation = dmp_organisation(structure_of_patient(letter.patient_id))
    author = dmp_author(db.session.get_one(User, letter.author_id), organisation)
    return dmp_bridge.DmpDocument(
        kind=DMP_KINDS[LetterKind(letter.kind)],
        patient=dmp_patient(letter.patient_id),
        title=letter.subject,
        pdf=(letter.pdf or b"") if render else b"",
        author=author,
        legal_authenticator=author,
        organisation=organisation,
        created_at=letter.signed_at,
        authenticated_at=letter.signed_at,
        service_start=clock.paris_day(letter.created_at),
        service_stop=clock.paris_day(letter.signed_at),
        local_patient_id=f"PTAP-{letter.patient_id}",
        local_patient_oid=f"{current_app.config['DMP_OID_ROOT']}.9",
    )


def register() -> None:
    """Register the letters' document provider with the DMP bridge, and the consent check
    the mail job runs before sending a letter by MSSanté."""
    from ptap.core import mail
    from ptap.letters.services import mssante_send_gate

    dmp_bridge.register_document_provider(SOURCE_TYPE, letter_document)
    mail.register_send_gate(mail.MailKind.MSSANTE, mssante_send_gate)
