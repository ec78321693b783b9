"""The letters job: render the PDF/A of signed letters, then queue their filings and sendings.

Rendering takes a while, so it never happens in a request: signing marks the PDF pending and
this job renders it. Filings (DMP outbox) and MSSanté sendings (mail outbox) asked before the
PDF was ready are queued here once it is. Each letter is committed on its own, so a failure
leaves the others done and the failed one visible on its page.
"""

from __future__ import annotations

import logging

from ptap.core.errors import DomainError
from ptap.dmp_bridge import DmpError
from ptap.extensions import db
from ptap.letters import queries, services
from ptap.letters.documents import render_letter_pdf
from ptap.letters.models import Letter, LetterSending

log = logging.getLogger(__name__)

#: Letters (or sendings) handled per step of one run.
BATCH = 10

SENDING_FAILED = (
    "Le message MSSanté n'a pas pu être préparé (document CDA impossible à produire pour ce "
    "patient). Vérifiez son identité INS puis demandez un nouvel envoi."
)


def process_letters() -> int:
    """Render pending letter PDFs, then queue the filings and sendings waiting for them."""
    done = 0
    for letter_id in queries.letters_to_render(BATCH):
        letter = db.session.get_one(Letter, letter_id)
        try:
            pdf: bytes | None = render_letter_pdf(letter)
        except Exception:  # logged with its traceback; users see a sentence (store_letter_pdf)
            log.exception("letter %d failed to render", letter_id)
            db.session.rollback()
            letter = db.session.get_one(Letter, letter_id)
            pdf = None
        services.store_letter_pdf(letter, pdf)
        db.session.commit()
        done += 1
    for letter_id in queries.letters_to_file(BATCH):
        try:
            services.queue_letter_filing(db.session.get_one(Letter, letter_id))
        except DomainError as exc:  # the bridge turned off meanwhile: tried again next run
            db.session.rollback()
            log.warning("letter %d not queued for the DMP: %s", letter_id, exc.message)
            continue
        db.session.commit()
        done += 1
    for sending_id in queries.sendings_to_queue(BATCH):
        sending = db.session.get_one(LetterSending, sending_id)
        try:
            services.queue_letter_sending(sending)
        except DomainError as exc:  # refused by the mail outbox: shown on the letter
            db.session.rollback()
            sending = db.session.get_one(LetterSending, sending_id)
            sending.error = exc.message or "Envoi refusé."
        except (ValueError, LookupError, DmpError):
            # The XDM/CDA could not be built (identity changed since the request...): this
            # sending fails with a sentence, the others go on; the details are in the log.
            log.exception("letter sending %d could not be queued", sending_id)
            db.session.rollback()
            sending = db.session.get_one(LetterSending, sending_id)
            sending.error = SENDING_FAILED
        db.session.commit()
        done += 1
    return done
