"""Boundary helper: load an outbox row for the current user (404 to outsiders, audited)."""

from __future__ import annotations

from flask_login import current_user

from ptap.audit.context import note_patients_shown, request_context
from ptap.audit.models import Outcome
from ptap.audit.services import record_event
from ptap.core.errors import NotFound, PermissionDenied
from ptap.core.policy import can
from ptap.dmp_bridge import DmpSubmission, find_submission
from ptap.extensions import db

NOT_FOUND = "Envoi au DMP introuvable ou hors de votre cercle de soins."


def load_submission(submission_id: int, action: str | None = None) -> DmpSubmission:
    """Return the row if the current user may see it or act on it.

    Anyone else gets a 404 exactly like for a row that does not exist (the refusal is
    audited and committed on its own); someone who sees the row but may not perform
    `action` gets a 403.
    """
    user = current_user._get_current_object()
    row = find_submission(submission_id)
    if row is None:
        raise NotFound(NOT_FOUND)
    if not (can(user, "dmp_submission.view", row) or can(user, "dmp_submission.manage", row)):
        record_event(
            request_context(user),
            action or "dmp_submission.view",
            outcome=Outcome.DENIED,
            object_type="dmp_submission",
            object_id=row.id,
            patient_id=row.patient_id,
        )
        db.session.commit()
        raise NotFound(NOT_FOUND)
    if action is not None and not can(user, action, row):
        raise PermissionDenied()
    note_patients_shown([row.patient_id])  # a response showing the row is audited
    return row
