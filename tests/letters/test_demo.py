"""`ptap demo` shows templates of both kinds and signed letters, one filed, one sent."""

from __future__ import annotations

import sqlalchemy as sa

from ptap.core.mail import MailMessage
from ptap.demo import load_demo
from ptap.dmp_bridge import DmpSubmission
from ptap.letters.models import Letter, LetterSending, LetterTemplate, PdfStatus


def test_demo_has_templates_and_signed_letters_filed_and_sent(app, db):
    from ptap.letters.tasks import process_letters

    app.config["MAIL_TRANSPORT"] = "memory"
    load_demo()
    assert process_letters() >= 4  # the job renders the PDFs, then files and sends (as in prod)
    kinds = set(db.session.scalars(sa.select(LetterTemplate.kind)))
    assert kinds == {"referral", "home_assessment"}
    letters = db.session.scalars(sa.select(Letter)).all()
    signed = [letter for letter in letters if letter.signed_at is not None]
    assert len(signed) >= 2 and any(letter.signed_at is None for letter in letters)
    assert all(
        letter.pdf_status == PdfStatus.READY and (letter.pdf or b"").startswith(b"%PDF-")
        for letter in signed
    )
    sending = db.session.scalars(sa.select(LetterSending)).first()
    assert sending is not None and sending.mail_id is not None
    message = db.session.get(MailMessage, sending.mail_id)
    assert message is not None and message.kind == "mssante"
    filed = [letter for letter in signed if letter.dmp_submission_id]
    assert filed and db.session.get(DmpSubmission, filed[0].dmp_submission_id) is not None
    count = len(letters)
    load_demo()  # idempotent
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Letter)) == count
    discussed = [letter for letter in letters if "Lors de la concertation du" in letter.body]
    assert discussed, "no demo letter shows a concertation's decisions"
