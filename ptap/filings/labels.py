"""French labels of what the outbox stores as codes (kinds, operations, outcomes, visibility)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ptap.dmp_bridge import (
    STATUS_LABELS,
    AttemptOutcome,
    Confidentiality,
    DocumentKind,
    Operation,
    SubmissionStatus,
)

KIND_LABELS = {
    DocumentKind.PPCS: "Plan personnalisé de coordination en santé",
    DocumentKind.REFERRAL_LETTER: "Lettre d'adressage",
    DocumentKind.MEETING_REPORT: "Compte rendu de réunion de concertation",
    DocumentKind.VISIT_REPORT: "Compte rendu d'évaluation à domicile",
}

OPERATION_LABELS = {
    Operation.FILE: "Dépôt du document",
    Operation.UPDATE_VISIBILITY: "Changement de visibilité",
    Operation.ARCHIVE: "Archivage",
    Operation.DELETE: "Suppression",
}

OUTCOME_LABELS = {
    AttemptOutcome.STARTED: "Sans réponse (envoi interrompu ou en cours)",
    AttemptOutcome.FILED: "Réussi",
    AttemptOutcome.ALREADY_FILED: "Déjà reçu par le DMP (réponse précédente perdue)",
    AttemptOutcome.TRANSIENT_ERROR: "Erreur temporaire, nouvel essai prévu",
    AttemptOutcome.PERMANENT_ERROR: "Refusé par le DMP",
    AttemptOutcome.BLOCKED: "Bloqué avant l'envoi",
}

CONFIDENTIALITY_LABELS = {
    Confidentiality.NORMAL: "Visibilité normale",
    Confidentiality.MASKED_FROM_PROFESSIONALS: "Masqué aux professionnels de santé",
    Confidentiality.HIDDEN_FROM_PATIENT: "Invisible pour le patient tant qu'il n'a pas été informé",
    Confidentiality.HIDDEN_FROM_REPRESENTATIVES: "Invisible pour les représentants légaux",
}

#: CSS classes of the status badges (existing styles: green, blue, amber, red, muted).
STATUS_BADGES = {
    SubmissionStatus.PENDING: "status status-in_progress",
    SubmissionStatus.IN_PROGRESS: "status status-in_progress",
    SubmissionStatus.FILED: "status status-done",
    SubmissionStatus.BLOCKED: "status tag-pending",
    SubmissionStatus.FAILED: "status tag-urgent",
    SubmissionStatus.CANCELLED: "status status-cancelled",
}


def label(labels: Mapping[Any, str], value: str) -> str:
    """Return the French label of a stored code (the code itself if unknown)."""
    return labels.get(value, value)


def status_label(status: str) -> str:
    """Return the French label of an outbox status."""
    return label(STATUS_LABELS, status)
