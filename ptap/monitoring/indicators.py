"""The catalogue of indicators: keys, French titles, the columns of their tables, their notes."""

from __future__ import annotations

from dataclasses import dataclass

from ptap.care_events.models import BREAK_KINDS, CARE_EVENT_KIND_LABELS
from ptap.care_teams.models import END_REASON_LABELS, REQUESTER_KIND_LABELS, SEX_LABELS
from ptap.intake.models import MISSION_TYPE_LABELS, REQUEST_CHANNEL_LABELS


@dataclass(frozen=True)
class Indicator:
    """One table of the monitoring page: months in rows, dimension values in columns."""

    key: str
    title: str
    #: (dimension value, column label), in display order.
    columns: tuple[tuple[str, str], ...]
    section: str
    note: str = ""
    #: False: its data source does not exist yet; shown as "non disponible".
    available: bool = True
    #: "count" tables, or a "duration" histogram shown as median and p90.
    kind: str = "count"
    #: (label, numerator dimension, denominator dimensions): a share column computed per row.
    share: tuple[str, str, tuple[str, ...]] | None = None
    #: Whether the row total means something (False when columns overlap or are states).
    row_total: bool = True
    #: Columns counting a stock (people followed at the month's end): their sum over the
    #: months means nothing, so the period's line leaves them out.
    stocks: tuple[str, ...] = ()


#: Duration buckets (hours): lower bounds. A median is reported as the upper bound of its bucket.
DURATION_BUCKETS: tuple[int, ...] = (
    0,
    1,
    2,
    4,
    8,
    12,
    24,
    36,
    48,
    72,
    96,
    120,
    168,
    240,
    336,
    504,
    720,
    1440,
)

AGE_BANDS = (
    ("lt60", "Moins de 60 ans"),
    ("60_74", "60 à 74 ans"),
    ("75_84", "75 à 84 ans"),
    ("85p", "85 ans et plus"),
)


def age_band(age: int) -> str:
    """Return the age band key of an age in years."""
    if age < 60:
        return "lt60"
    if age < 75:
        return "60_74"
    if age < 85:
        return "75_84"
    return "85p"


def duration_bucket(hours: float) -> str:
    """Return the bucket key (its lower bound, zero-padded) of a duration in hours."""
    lower = 0
    for bound in DURATION_BUCKETS:
        if hours >= bound:
            lower = bound
    return f"{lower:05d}"


#: Mission type of a request not triaged yet.
UNTRIAGED = "untriaged"

INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        "requests_requester",
        "Sollicitations par type de demandeur",
        tuple((str(k), v) for k, v in REQUESTER_KIND_LABELS.items()),
        "Sollicitations",
        note="Sollicitations reçues dans le mois.",
    ),
    Indicator(
        "requests_channel",
        "Sollicitations par canal",
        tuple((str(k), v) for k, v in REQUEST_CHANNEL_LABELS.items()),
        "Sollicitations",
    ),
    Indicator(
        "requests_mission",
        "Sollicitations par type de mission",
        (
            *((str(k), v) for k, v in MISSION_TYPE_LABELS.items()),
            (UNTRIAGED, "Pas encore orientées"),
        ),
        "Sollicitations",
    ),
    Indicator(
        "first_answer_hours",
        "Délai de première réponse",
        (),
        "Sollicitations",
        kind="duration",
        note="Des sollicitations reçues dans le mois et déjà répondues : médiane et 90e centile, "
        "par tranche d'heures.",
    ),
    Indicator(
        "file",
        "File active",
        (
            ("new", "Nouvelles inclusions"),
            ("ongoing", "En cours en fin de mois"),
            ("closed", "Sorties"),
        ),
        "File active",
        note="Inclusions du mois, personnes suivies au dernier jour du mois, sorties du mois.",
        row_total=False,
        stocks=("ongoing",),
    ),
    Indicator(
        "file_closed_reason",
        "Sorties par motif",
        tuple((str(k), v) for k, v in END_REASON_LABELS.items()),
        "File active",
    ),
    Indicator(
        "plans",
        "PPCS créés, validés, révisés, clos",
        (
            ("created", "Créés"),
            ("validated", "Validés par le médecin"),
            ("revised", "Révisés (nouvelle version)"),
            ("closed", "Clos"),
        ),
        "PPCS",
        note="Événements du mois (un même PPCS peut compter dans plusieurs colonnes).",
        row_total=False,
    ),
    Indicator(
        "plan_reviews",
        "Réévaluations des PPCS à échéance",
        (
            ("on_time", "Révisés à l'échéance"),
            ("late", "Non révisés à l'échéance"),
            ("pending", "Échéance à venir"),
        ),
        "PPCS",
        note="Versions dont la date de réévaluation tombe dans le mois.",
        share=("Part révisée à l'échéance", "on_time", ("on_time", "late")),
    ),
    Indicator(
        "meetings",
        "Réunions de concertation tenues et personnes discutées",
        (("held", "Réunions tenues"), ("patients", "Personnes discutées")),
        "Concertation",
        available=False,
        note="Les réunions de concertation ne sont pas encore gérées dans PTAP : 0 réunion.",
        row_total=False,
    ),
    Indicator(
        "messages",
        "Messages et échanges entre professions",
        (
            ("inter_profession", "Réponses entre professions différentes"),
            ("same_profession", "Réponses au sein d'une même profession"),
            ("other", "Autres messages"),
        ),
        "Messagerie",
        note="Une réponse est un message qui suit celui d'un autre auteur dans la conversation.",
        share=(
            "Part des échanges entre professions",
            "inter_profession",
            ("inter_profession", "same_profession"),
        ),
    ),
    Indicator(
        "dmp_filings",
        "Envois au DMP",
        (("filed", "Déposés"), ("failed", "En échec"), ("blocked", "Bloqués")),
        "DMP",
        note="Documents à déposer, par mois de demande et selon leur état actuel.",
    ),
    Indicator(
        "breaks",
        "Ruptures de parcours par type",
        tuple((str(k), v) for k, v in CARE_EVENT_KIND_LABELS.items() if k in BREAK_KINDS),
        "Ruptures de parcours",
        note="Événements survenus dans le mois (hors enregistrements retirés).",
    ),
    Indicator(
        "mix_age",
        "Personnes incluses par tranche d'âge",
        AGE_BANDS,
        "Profil des personnes",
        note="Âge l'année de l'inclusion.",
    ),
    Indicator(
        "mix_sex",
        "Personnes incluses par sexe",
        tuple((str(k), v) for k, v in SEX_LABELS.items()),
        "Profil des personnes",
    ),
)

BY_KEY = {i.key: i for i in INDICATORS}
