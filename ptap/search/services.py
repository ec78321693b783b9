"""The search's one write: the audit event saying who searched which patient's file."""

from __future__ import annotations

from ptap.audit.services import AuditContext, record_event
from ptap.care_teams.models import Patient
from ptap.search.queries import SearchFilters


def record_patient_search(
    ctx: AuditContext, patient: Patient, raw_query: str, filters: SearchFilters, total: int
) -> None:
    """Audit a search of the patient's file (flushes, no commit).

    The query text is not stored: typed words can be health data ("VIH", a diagnosis), and a
    hash of a short word is reversed with a dictionary. The event keeps its length, the
    filters and the number of results, enough to see who searched what file and how much.
    """
    kinds = ",".join(sorted(filters.kinds)) or "tous"
    dates = f"{filters.since or ''}..{filters.until or ''}"
    record_event(
        ctx,
        "patient.search",
        object_type="patient",
        object_id=patient.id,
        patient_id=patient.id,
        reason=f"requête de {len(raw_query)} caractères; types={kinds}; dates={dates}; "
        f"{total} résultat{'s' if total > 1 else ''}",
    )
