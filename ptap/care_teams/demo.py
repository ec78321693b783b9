"""A believable fictitious territory for `ptap demo`: structures, teams and 300+ patients.

Everything clinical goes through the real services (create_patient, record_consent,
add_contact, end_enrolment, invite_to_circle...) with the teams' coordinators as actors, so the
audit trail, the consent ledger and the possible-duplicate flags are the real ones. The
organisation (territory, structures, teams, memberships) has no service yet and is inserted
directly.

The content is drawn from `random.Random(SEED)`: the same people every run. Requests,
enrolments, consents and exits are dated over the last two years (relative to today) so lists
and timelines look lived-in; the audit trail keeps the true time of the load.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from flask import current_app

from ptap.accounts.models import Profession, User
from ptap.audit.services import AuditContext
from ptap.care_teams import circle, qualification, services
from ptap.care_teams.identity import IdentityData
from ptap.care_teams.insi import InsiError, identity_service
from ptap.care_teams.models import (
    CareTeam,
    ConsentKind,
    ConsentMethod,
    ContactKind,
    EndReason,
    Enrolment,
    IdentityStatus,
    Patient,
    ProblemCategory,
    RequesterKind,
    Structure,
    StructureKind,
    TeamMembership,
    TeamRole,
    Territory,
)
from ptap.core import clock
from ptap.core.errors import Conflict
from ptap.core.identifiers import luhn_check_digit
from ptap.core.models import utcnow
from ptap.core.policy import PlatformRole
from ptap.extensions import db

SEED = 2026
TERRITORY_NAME = "Territoire Rhône Centre (démo)"
AUDIT_LABEL = "ptap demo"

#: Existing demo accounts (ptap.demo) that belong to the teams: their e-mail local parts.
COORDINATOR = "coordination"
TEAM_ONE_PROFESSIONALS = ("medecin", "infirmiere", "pharmacien", "kine", "social")


def finess(body8: str) -> str:
    """Return a valid-format FINESS number: 8 digits and a Luhn check digit."""
    return body8 + luhn_check_digit(body8)


@dataclass(frozen=True)
class DemoProfessional:
    """A fictitious professional of the demo teams (their account is made by ptap.demo)."""

    key: str
    first_name: str
    last_name: str
    profession: str
    role: str = PlatformRole.PROFESSIONAL


_C, _P = PlatformRole.COORDINATOR, PlatformRole.PROFESSIONAL
ROSTER = (
    DemoProfessional("helene.esquisse", "Hélène", "Esquisse", Profession.NURSE, _C),
    DemoProfessional("bastien.maquette", "Bastien", "Maquette", Profession.NURSE, _C),
    DemoProfessional("nadia.ebauche", "Nadia", "Ébauche", Profession.SOCIAL_WORKER, _C),
    DemoProfessional("camille.brouillon", "Camille", "Brouillon", Profession.NURSE, _C),
    DemoProfessional("julien.factice", "Julien", "Factice", Profession.PHYSICIAN),
    DemoProfessional("agathe.temoin", "Agathe", "Témoin", Profession.PHYSICIAN),
    DemoProfessional("olivier.specimen", "Olivier", "Spécimen", Profession.PHYSICIAN),
    DemoProfessional("lucie.gabarit", "Lucie", "Gabarit", Profession.PHYSICIAN),
    DemoProfessional("henri.prototype", "Henri", "Prototype", Profession.PHYSICIAN),
    DemoProfessional("sarah.canevas", "Sarah", "Canevas", Profession.PHYSICIAN),
    DemoProfessional("thomas.croquis", "Thomas", "Croquis", Profession.PHYSICIAN),
    DemoProfessional("francois.mannequin", "François", "Mannequin", Profession.PHYSICIAN),
    DemoProfessional("manon.calque", "Manon", "Calque", Profession.NURSE),
    DemoProfessional("yannick.epreuve", "Yannick", "Épreuve", Profession.NURSE),
    DemoProfessional("elodie.apercu", "Élodie", "Aperçu", Profession.NURSE),
    DemoProfessional("rachid.simule", "Rachid", "Simulé", Profession.NURSE),
    DemoProfessional("lea.placebo", "Léa", "Placebo", Profession.NURSE),
    DemoProfessional("antoine.quidam", "Antoine", "Quidam", Profession.NURSE),
    DemoProfessional("chloe.lambda", "Chloé", "Lambda", Profession.PHARMACIST),
    DemoProfessional("vincent.modele", "Vincent", "Modèle", Profession.PHARMACIST),
    DemoProfessional("romain.patron", "Romain", "Patron", Profession.PHYSIOTHERAPIST),
    DemoProfessional("damien.mirage", "Damien", "Mirage", Profession.PHYSIOTHERAPIST),
    DemoProfessional("nathalie.pastiche", "Nathalie", "Pastiche", Profession.PHYSIOTHERAPIST),
    DemoProfessional("sandrine.chimere", "Sandrine", "Chimère", Profession.SOCIAL_WORKER),
    DemoProfessional("fatou.illusion", "Fatou", "Illusion", Profession.SOCIAL_WORKER),
    DemoProfessional("pauline.fantaisie", "Pauline", "Fantaisie", Profession.DIETITIAN),
    DemoProfessional("gaelle.scenario", "Gaëlle", "Scénario", Profession.DIETITIAN),
    DemoProfessional("marine.figurant", "Marine", "Figurant", Profession.DIETITIAN),
    DemoProfessional("mathilde.doublure", "Mathilde", "Doublure", Profession.PSYCHOLOGIST),
    DemoProfessional("benoit.cascade", "Benoît", "Cascade", Profession.PSYCHOLOGIST),
    DemoProfessional("aurelie.essai", "Aurélie", "Essai", Profession.OCCUPATIONAL_THERAPIST),
    DemoProfessional(
        "quentin.silhouette", "Quentin", "Silhouette", Profession.OCCUPATIONAL_THERAPIST
    ),
)


@dataclass(frozen=True)
class DemoTeam:
    """A demo team: its structure (index into STRUCTURES), name and memberships."""

    structure: int
    name: str
    #: (professional key, team role, starts_on, ends_on)
    members: tuple[tuple[str, str, date, date | None], ...]
    #: Share of the patients followed by this team.
    weight: int
    #: Postal codes and cities of its patients.
    towns: tuple[tuple[str, str], ...]


STRUCTURES = (
    ("DAC Rhône Centre (démo)", StructureKind.DAC, finess("69099901")),
    ("CPTS Lyon Presqu'île (démo)", StructureKind.CPTS, finess("69099902")),
)

_CO, _ME = TeamRole.COORDINATOR, TeamRole.MEMBER
_D = date
TEAMS = (
    DemoTeam(
        0,
        "Parcours complexes Lyon Centre",
        (
            (COORDINATOR, _CO, _D(2023, 1, 2), None),
            ("helene.esquisse", _CO, _D(2024, 9, 2), None),
            ("medecin", _ME, _D(2023, 1, 2), None),
            ("infirmiere", _ME, _D(2023, 1, 2), None),
            ("pharmacien", _ME, _D(2023, 3, 1), None),
            ("kine", _ME, _D(2023, 6, 1), None),
            ("social", _ME, _D(2023, 1, 2), None),
            ("julien.factice", _ME, _D(2023, 2, 1), None),
            ("agathe.temoin", _ME, _D(2024, 1, 8), None),
            ("manon.calque", _ME, _D(2023, 4, 3), None),
            ("yannick.epreuve", _ME, _D(2023, 1, 2), _D(2025, 3, 31)),
            ("chloe.lambda", _ME, _D(2024, 5, 6), None),
            ("pauline.fantaisie", _ME, _D(2023, 9, 4), None),
            ("mathilde.doublure", _ME, _D(2024, 2, 1), None),
            ("aurelie.essai", _ME, _D(2025, 1, 6), None),
        ),
        45,
        (
            ("69001", "Lyon"),
            ("69002", "Lyon"),
            ("69003", "Lyon"),
            ("69006", "Lyon"),
            ("69007", "Lyon"),
        ),
    ),
    DemoTeam(
        0,
        "Sortie d'hospitalisation Villeurbanne",
        (
            ("bastien.maquette", _CO, _D(2023, 5, 2), None),
            ("nadia.ebauche", _CO, _D(2023, 5, 2), None),
            ("olivier.specimen", _ME, _D(2023, 5, 2), None),
            ("lucie.gabarit", _ME, _D(2024, 3, 4), None),
            ("henri.prototype", _ME, _D(2023, 5, 2), _D(2025, 6, 30)),
            ("elodie.apercu", _ME, _D(2023, 5, 2), None),
            ("rachid.simule", _ME, _D(2023, 10, 2), None),
            ("vincent.modele", _ME, _D(2023, 5, 2), None),
            ("romain.patron", _ME, _D(2023, 5, 2), _D(2025, 8, 31)),
            ("damien.mirage", _ME, _D(2025, 9, 1), None),
            ("sandrine.chimere", _ME, _D(2023, 5, 2), None),
            ("gaelle.scenario", _ME, _D(2024, 1, 8), None),
            ("benoit.cascade", _ME, _D(2024, 6, 3), None),
        ),
        30,
        (
            ("69100", "Villeurbanne"),
            ("69120", "Vaulx-en-Velin"),
            ("69500", "Bron"),
        ),
    ),
    DemoTeam(
        1,
        "Maintien à domicile Presqu'île",
        (
            ("camille.brouillon", _CO, _D(2024, 1, 8), None),
            ("nadia.ebauche", _CO, _D(2024, 1, 8), None),
            ("sarah.canevas", _ME, _D(2024, 1, 8), None),
            ("thomas.croquis", _ME, _D(2024, 1, 8), None),
            ("francois.mannequin", _ME, _D(2024, 4, 2), None),
            ("lea.placebo", _ME, _D(2024, 1, 8), None),
            ("antoine.quidam", _ME, _D(2024, 1, 8), None),
            ("vincent.modele", _ME, _D(2024, 2, 5), None),
            ("romain.patron", _ME, _D(2025, 9, 1), None),
            ("nathalie.pastiche", _ME, _D(2024, 1, 8), None),
            ("fatou.illusion", _ME, _D(2024, 1, 8), None),
            ("marine.figurant", _ME, _D(2024, 9, 2), None),
            ("mathilde.doublure", _ME, _D(2024, 2, 1), None),
            ("quentin.silhouette", _ME, _D(2024, 11, 4), None),
        ),
        25,
        (
            ("69002", "Lyon"),
            ("69004", "Lyon"),
            ("69005", "Lyon"),
            ("69009", "Lyon"),
        ),
    ),
)

# --- Patients ------------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


#: Fictitious birth names: obviously made-up, French-sounding.
BIRTH_NAMES = _words(
    "EXEMPLE FICTIF TESTARD DEMOLIN TESTELIN TESTOT TESTAUD TESTIER DEMOLARD DEMONET DEMOREAU "
    "DEMOUX FICTIER FICTOT FICTEAU FICTARD EXEMPLOT EXEMPLIER EXEMPLARD MAQUETTIN MAQUETON "
    "MAQUETAUD ESSAYARD ESSAYOT ESSAYEAU SIMULIN SIMULARD SIMULOT FACTICEAU FACTICIER MODELIN "
    "MODELOT MODELARD BROUILLET CROQUETIN ESQUISSARD PROTOTIN PLACEBAUD"
)
FEMALE_NAMES = _words(
    "Jeanne Marie Paulette Simone Yvette Odette Germaine Suzanne Monique Josette Colette "
    "Denise Huguette Raymonde Lucienne Madeleine Geneviève Françoise Nicole Micheline Marcelle "
    "Georgette Renée Gisèle Andrée Jacqueline Thérèse Marguerite Louise Hélène"
)
MALE_NAMES = _words(
    "Jean Pierre André Marcel René Roger Robert Henri Louis Georges Maurice Lucien Raymond "
    "Bernard Michel Gérard Claude Jacques Roland Fernand Marius Émile Joseph Antoine Paul"
)
YOUNGER_FEMALE = _words("Sylvie Catherine Isabelle Véronique Christine Nathalie Brigitte")
YOUNGER_MALE = _words("Philippe Alain Patrick Didier Éric Thierry Pascal")
#: Births abroad: (INSEE country code, first names F, first names M).
ABROAD = (
    ("99350", ("Fatima", "Khadija", "Aïcha"), ("Mohamed", "Ahmed", "Abdelkader")),
    ("99352", ("Fatiha", "Zohra", "Malika"), ("Ali", "Saïd", "Rachid")),
    ("99139", ("Maria", "Rosa", "Conceição"), ("Manuel", "José", "António")),
    ("99127", ("Giovanna", "Maria", "Rosa"), ("Giuseppe", "Antonio", "Salvatore")),
)
#: INSEE codes of birth communes: Lyon arrondissements and neighbours weigh most.
BIRTHPLACES = (
    ("69381", 6),
    ("69382", 5),
    ("69383", 8),
    ("69384", 4),
    ("69385", 4),
    ("69386", 5),
    ("69387", 5),
    ("69388", 5),
    ("69389", 3),
    ("69266", 6),
    ("69256", 2),
    ("69029", 2),
    ("69259", 3),
    ("69290", 2),
    ("42218", 3),
    ("38185", 2),
    ("01053", 1),
    ("71270", 1),
    ("63113", 1),
    ("26362", 1),
    ("75114", 1),
    ("13206", 1),
)
STREETS = (
    "rue de l'Exemple",
    "rue des Essais",
    "place du Modèle",
    "impasse de la Maquette",
    "avenue du Prototype",
    "quai de l'Ébauche",
    "montée du Brouillon",
    "cours du Spécimen",
    "chemin du Croquis",
    "rue du Canevas",
)
RELATIONS = {
    ContactKind.CAREGIVER: ("Fille", "Fils", "Épouse", "Époux", "Belle-fille", "Voisine"),
    ContactKind.TRUSTED_PERSON: ("Fille", "Fils", "Nièce", "Neveu", "Amie proche"),
}
OUTSIDE_GPS = ("Dr Odile Lointaine", "Dr Marc Ailleurs", "Dr Jean Dehors", "Dr Anne Horschamp")
REQUESTERS = {
    RequesterKind.GP: "",
    RequesterKind.HOSPITAL: "Hôpital Fictif de Lyon-Est (démo)",
    RequesterKind.PRIVATE_PROFESSIONAL: "Cabinet infirmier de l'Exemple (démo)",
    RequesterKind.MEDICO_SOCIAL: "SSIAD Rhône Centre (démo)",
    RequesterKind.CAREGIVER: "",
    RequesterKind.PATIENT: "",
}
END_NOTES = {
    EndReason.GOALS_MET: "Situation stabilisée, relais au médecin traitant.",
    EndReason.MOVED: "Installation chez sa fille hors du département.",
    EndReason.INSTITUTION: "Entrée en EHPAD.",
    EndReason.REFUSED: "Ne souhaite plus d'accompagnement.",
    EndReason.DECEASED: "",
    EndReason.OTHER: "Prise en charge par l'HAD (démo).",
}

#: How many records of each identity status (those without INS come last in the count).
STATUS_COUNTS = {
    IdentityStatus.QUALIFIED: 262,
    IdentityStatus.RECOVERED: 44,
    IdentityStatus.VALIDATED: 20,
    IdentityStatus.PROVISIONAL: 14,
}
#: Consent states among the regular records (the rest: sharing given).
CONSENT_NOT_COLLECTED = 26
CONSENT_WITHDRAWN = 10
DMP_OPPOSITIONS = 9
ENDED_ENROLMENTS = 24
TRANSFERS = 4
INVITATIONS = 8
#: Possible-duplicate pairs: (team index of the second record, coordinator key).
DUPLICATES = ((0, COORDINATOR), (0, "helene.esquisse"), (1, "bastien.maquette"))


@dataclass
class DemoSummary:
    """What the care-teams demo created."""

    teams: int = 0
    memberships: int = 0
    patients: int = 0
    closed_enrolments: int = 0
    invitations: int = 0
    duplicate_pairs: int = 0


@dataclass
class _Context:
    rng: random.Random
    users: Mapping[str, User]
    teams: list[CareTeam]
    today: date
    now: datetime
    identities: set[tuple[str, int, int | None, int | None, str]] = field(default_factory=set)
    summary: DemoSummary = field(default_factory=DemoSummary)

    def coordinators(self, team_index: int) -> list[User]:
        return [
            self.users[key]
            for key, role, _start, end in TEAMS[team_index].members
            if role == TeamRole.COORDINATOR and end is None
        ]

    def physicians(self, team_index: int) -> list[User]:
        return [
            self.users[key]
            for key, _role, _start, end in TEAMS[team_index].members
            if end is None and self.users[key].profession == Profession.PHYSICIAN
        ]


def demo_territory_exists() -> bool:
    """Tell whether the demo territory was already loaded."""
    return (
        db.session.scalar(sa.select(Territory.id).where(Territory.name == TERRITORY_NAME))
        is not None
    )


def load_care_teams_demo(users: Mapping[str, User]) -> DemoSummary | None:
    """Create the demo territory and its patients, unless already there (then return None).

    `users` maps the e-mail local part of every demo account (ptap.demo's and ROSTER's) to the
    account. Commits. Skips everything when test identities are refused (production).
    """
    if demo_territory_exists() or not current_app.config["INS_ALLOW_TEST_IDENTITIES"]:
        return None
    now = utcnow()
    rng = random.Random(SEED)  # noqa: S311 - reproducible fictitious data, not a secret
    ctx = _Context(rng, users, [], now.date(), now)
    _organisation(ctx)
    _patients(ctx)
    db.session.commit()  # all or nothing: a half-loaded demo would never be completed
    return ctx.summary


def _organisation(ctx: _Context) -> None:
    territory = Territory(name=TERRITORY_NAME, region_code="84", department_code="69")
    structures = [
        Structure(name=name, kind=kind, finess=number, territory=territory)
        for name, kind, number in STRUCTURES
    ]
    for spec in TEAMS:
        team = CareTeam(name=spec.name, territory=territory, structure=structures[spec.structure])
        db.session.add(team)
        ctx.teams.append(team)
    db.session.flush()
    for team, spec in zip(ctx.teams, TEAMS, strict=True):
        for key, role, starts_on, ends_on in spec.members:
            db.session.add(
                TeamMembership(
                    team_id=team.id,
                    user_id=ctx.users[key].id,
                    role=role,
                    starts_on=starts_on,
                    ends_on=ends_on,
                )
            )
            ctx.summary.memberships += 1
    ctx.summary.teams = len(ctx.teams)
    db.session.flush()


def _audit(user: User) -> AuditContext:
    return AuditContext(actor_id=user.id, actor_label=AUDIT_LABEL)


def _at(day: date, rng: random.Random, now: datetime) -> datetime:
    """Return a working-hours moment of `day` (UTC), never later than now."""
    moment = datetime.combine(day, time(7 + rng.randrange(10), rng.randrange(60)), UTC)
    return min(moment, now - timedelta(minutes=1))


@dataclass
class _Plan:
    """What to do with one patient record, decided before creating it."""

    team: int
    status: str
    consent: str = "given"  # given | none | withdrawn
    dmp_opposition: bool = False
    ended: str = ""
    transfer: bool = False
    invite: bool = False


def _plans(ctx: _Context) -> list[_Plan]:
    rng = ctx.rng
    statuses = [status for status, n in STATUS_COUNTS.items() for _ in range(n)]
    rng.shuffle(statuses)
    weights = [spec.weight for spec in TEAMS]
    plans = [_Plan(team=rng.choices(range(len(TEAMS)), weights)[0], status=s) for s in statuses]
    order = list(range(len(plans)))
    rng.shuffle(order)
    picks = iter(order)
    for _ in range(CONSENT_NOT_COLLECTED):
        plans[next(picks)].consent = "none"
    for _ in range(CONSENT_WITHDRAWN):
        plans[next(picks)].consent = "withdrawn"
    for _ in range(DMP_OPPOSITIONS):
        plans[next(picks)].dmp_opposition = True
    reasons = [r for r in END_NOTES for _ in range(4)]
    for reason in reasons[:ENDED_ENROLMENTS]:
        plans[next(picks)].ended = reason
    transfers = invitations = 0
    for index in picks:  # transfers: team 2 → team 3, by the coordinator of both
        if plans[index].team == 1 and transfers < TRANSFERS:
            plans[index].transfer = True
            transfers += 1
        elif invitations < INVITATIONS:
            plans[index].invite = True
            invitations += 1
    return plans


def _identity(ctx: _Context, plan: _Plan) -> IdentityData:
    rng = ctx.rng
    sex = "F" if rng.random() < 0.6 else "M"
    younger = rng.random() < 0.08
    # Mostly 65 to 95 years old (most often in their eighties); a few younger adults.
    year = rng.randint(1961, 1975) if younger else round(rng.triangular(1929, 1961, 1942))
    month = rng.randint(1, 12)
    day: int | None = rng.randint(1, 28 if month == 2 else 30)
    abroad = None if younger else (rng.choice(ABROAD) if rng.random() < 0.07 else None)
    if abroad:
        birthplace = abroad[0]
        names = abroad[1] if sex == "F" else abroad[2]
        first_names = " ".join(rng.sample(names, rng.randint(1, 2)))
        if rng.random() < 0.4:
            day = None  # day of birth unknown (civil status abroad)
    else:
        codes, weights = zip(*BIRTHPLACES, strict=True)
        birthplace = rng.choices(codes, weights)[0]
        pool = (
            (YOUNGER_FEMALE if sex == "F" else YOUNGER_MALE)
            if younger
            else (FEMALE_NAMES if sex == "F" else MALE_NAMES)
        )
        first_names = " ".join(rng.sample(pool, rng.choices((1, 2, 3), (3, 5, 2))[0]))
    while True:
        birth_name = rng.choice(BIRTH_NAMES)
        key = (birth_name, year, month, day, sex)
        if key not in ctx.identities:
            ctx.identities.add(key)
            break
    used_name = ""
    if sex == "F" and rng.random() < 0.45:
        used_name = rng.choice([n for n in BIRTH_NAMES if n != birth_name])
    used_first_name = ""
    if " " in first_names and rng.random() < 0.1:
        used_first_name = first_names.split(" ")[1]
    # Recovered and qualified identities get their INS from INSi (the simulator) once created
    # (`_qualify`): they start provisional, or validated on a document for the qualified ones.
    document = rng.choice(("identity_card", "identity_card", "passport"))
    status, method = {
        IdentityStatus.QUALIFIED: (IdentityStatus.VALIDATED, document),
        IdentityStatus.RECOVERED: (IdentityStatus.PROVISIONAL, ""),
        IdentityStatus.VALIDATED: (IdentityStatus.VALIDATED, document),
        IdentityStatus.PROVISIONAL: (IdentityStatus.PROVISIONAL, ""),
    }[IdentityStatus(plan.status)]
    if plan.status == IdentityStatus.PROVISIONAL and rng.random() < 0.5:
        birthplace = ""
    return IdentityData(
        birth_name=birth_name,
        first_names=first_names,
        birth_year=year,
        birth_month=month,
        birth_day=day,
        sex=sex,
        birthplace_code=birthplace,
        used_name=used_name,
        used_first_name=used_first_name,
        identity_status=status,
        identity_check_method=method,
    )


def _request(ctx: _Context, plan: _Plan, requested_on: date) -> services.EnrolmentRequest:
    rng = ctx.rng
    kinds = list(REQUESTERS)
    weights = (40, 25, 10, 10, 10, 5) if plan.team != 1 else (20, 55, 5, 10, 8, 2)
    kind = rng.choices(kinds, weights)[0]
    categories = set(rng.sample(list(ProblemCategory), rng.choices((1, 2, 3), (3, 5, 2))[0]))
    if plan.team == 1:
        categories.add(ProblemCategory.HOSPITAL_DISCHARGE)
    name = REQUESTERS[RequesterKind(kind)]
    if kind == RequesterKind.GP:
        name = rng.choice([u.full_name for u in ctx.physicians(plan.team)])
        name = f"Dr {name}"
    return services.EnrolmentRequest(
        requested_on=requested_on,
        requester_kind=kind,
        requester_name=name,
        problem_categories=tuple(c for c in ProblemCategory if c in categories),
    )


def _patients(ctx: _Context) -> None:
    plans = _plans(ctx)
    firsts: list[tuple[Patient, IdentityData, int]] = []
    for plan in plans:
        patient, identity = _create_one(ctx, plan)
        if plan.consent == "given" and not (plan.ended or plan.transfer):
            firsts.append((patient, identity, plan.team))
    _duplicates(ctx, firsts)


def _create_one(ctx: _Context, plan: _Plan) -> tuple[Patient, IdentityData]:
    rng = ctx.rng
    coordinator = rng.choice(ctx.coordinators(plan.team))
    if plan.transfer:
        coordinator = ctx.users["nadia.ebauche"]
    audit = _audit(coordinator)
    recent = plan.consent == "none"
    age_days = rng.randint(2, 30) if recent else rng.randint(40, 720)
    requested_on = ctx.today - timedelta(days=age_days)
    identity = _identity(ctx, plan)
    request = _request(ctx, plan, requested_on)
    enrolled_at = _at(requested_on + timedelta(days=rng.randint(1, 10)), rng, ctx.now)
    # One clock: the record, its enrolment, its INSi answer and their audit trail (the access
    # log) all say the day it was created, relative to today; never "today" in one place and a
    # date elsewhere.
    with clock.frozen(enrolled_at):
        patient = services.create_patient(
            coordinator, ctx.teams[plan.team], identity, request, audit
        )
        enrolment = _active_enrolment(patient.id, ctx.teams[plan.team].id)
        if plan.status in (IdentityStatus.QUALIFIED, IdentityStatus.RECOVERED):
            _qualify(patient, coordinator, audit)
        ctx.summary.patients += 1
        _details(ctx, plan, patient, coordinator, audit)
    if plan.consent != "none":
        _consents(ctx, plan, patient, coordinator, audit, enrolled_at)
    if plan.transfer:
        _transfer(ctx, patient, enrolment, coordinator, audit)
    elif plan.ended:
        _end(ctx, plan, enrolment, coordinator, audit)
    elif plan.invite and plan.consent == "given":
        _invite(ctx, plan, patient, coordinator, audit)
    return patient, identity


def _qualify(patient: Patient, coordinator: User, audit: AuditContext) -> None:
    """Retrieve the INS through the configured INSi connector (the simulator in the demo)."""
    try:
        qualification.query_insi(coordinator, patient, identity_service(), "retrieve", audit)
    except (InsiError, Conflict):
        return  # no connector, or a simulated INS already taken: the identity stays as it is


def _active_enrolment(patient_id: int, team_id: int) -> Enrolment:
    enrolment = db.session.scalar(
        sa.select(Enrolment).where(
            Enrolment.patient_id == patient_id,
            Enrolment.team_id == team_id,
            Enrolment.ended_at.is_(None),
        )
    )
    assert enrolment is not None  # noqa: S101 - just created by the service
    return enrolment


def _phone(rng: random.Random, prefix: str) -> str:
    """Return a number from the ranges ARCEP keeps for fiction (04 65 71, 06 39 98)."""
    return f"{prefix} {rng.randrange(100):02d} {rng.randrange(100):02d}"


def _details(
    ctx: _Context, plan: _Plan, patient: Patient, coordinator: User, audit: AuditContext
) -> None:
    rng = ctx.rng
    postal_code, city = rng.choice(TEAMS[plan.team].towns)
    gp = rng.choice(ctx.physicians(plan.team)) if rng.random() < 0.75 else None
    services.update_contact_details(
        coordinator,
        patient,
        address=f"{rng.randint(1, 120)} {rng.choice(STREETS)}",
        postal_code=postal_code,
        city=city,
        phone=_phone(rng, "04 65 71"),
        email="",
        gp_user_id=gp.id if gp else None,
        gp_name="" if gp else rng.choice(OUTSIDE_GPS),
        ctx=audit,
    )
    family = patient.used_name or patient.birth_name
    kinds = []
    if rng.random() < 0.55:
        kinds.append(ContactKind.CAREGIVER)
    if rng.random() < 0.35:
        kinds.append(ContactKind.TRUSTED_PERSON)
    for kind in kinds:
        relation = rng.choice(RELATIONS[kind])
        female = relation in ("Fille", "Épouse", "Belle-fille", "Voisine", "Nièce", "Amie proche")
        first = rng.choice(YOUNGER_FEMALE if female else YOUNGER_MALE)
        last = family if relation in ("Fils", "Époux") else rng.choice(BIRTH_NAMES)
        services.add_contact(
            coordinator,
            patient,
            services.ContactData(
                kind=kind,
                name=f"{first} {last}",
                relationship_label=relation,
                phone=_phone(rng, "06 39 98"),
            ),
            audit,
        )


def _consents(
    ctx: _Context,
    plan: _Plan,
    patient: Patient,
    coordinator: User,
    audit: AuditContext,
    enrolled_at: datetime,
) -> None:
    rng = ctx.rng
    guardian = rng.random() < 0.05
    if guardian:
        services.add_contact(
            coordinator,
            patient,
            services.ContactData(
                kind=ContactKind.LEGAL_REPRESENTATIVE,
                name="Association tutélaire du Rhône (démo)",
                relationship_label="Mandataire judiciaire (tutelle)",
                phone=_phone(rng, "04 65 71"),
            ),
            audit,
        )
    method = ConsentMethod.REPRESENTATIVE if guardian else ConsentMethod.ORAL
    given_at = min(enrolled_at + timedelta(days=rng.randint(0, 14)), ctx.now)
    with clock.frozen(given_at):
        _record_consents(ctx, plan, patient, coordinator, audit, method)
    if plan.consent == "withdrawn":
        withdrawn_at = min(given_at + timedelta(days=rng.randint(10, 90)), ctx.now)
        with clock.frozen(withdrawn_at):
            circle.record_consent(
                coordinator,
                patient,
                ConsentKind.SHARING,
                False,
                ConsentMethod.ORAL,
                "Retire son accord au partage lors d'un appel téléphonique.",
                audit,
            )


def _record_consents(
    ctx: _Context,
    plan: _Plan,
    patient: Patient,
    coordinator: User,
    audit: AuditContext,
    method: str,
) -> None:
    """Record the agreement to sharing (and any DMP opposition), at the clock's time."""
    circle.record_consent(
        coordinator,
        patient,
        ConsentKind.SHARING,
        True,
        method,
        "Information délivrée lors de la visite d'évaluation à domicile.",
        audit,
    )
    if plan.dmp_opposition:
        circle.record_consent(
            coordinator,
            patient,
            ConsentKind.DMP_OPPOSITION,
            True,
            method,
            "Ne souhaite pas que ses documents alimentent son DMP.",
            audit,
        )


def _end(
    ctx: _Context, plan: _Plan, enrolment: Enrolment, coordinator: User, audit: AuditContext
) -> None:
    ended_at = enrolment.enrolled_at + timedelta(days=ctx.rng.randint(30, 300))
    with clock.frozen(min(ended_at, ctx.now - timedelta(hours=1))):
        services.end_enrolment(
            coordinator, enrolment, plan.ended, END_NOTES[EndReason(plan.ended)], audit
        )
    ctx.summary.closed_enrolments += 1


def _transfer(
    ctx: _Context, patient: Patient, enrolment: Enrolment, coordinator: User, audit: AuditContext
) -> None:
    """Team 2 hands over to team 3: enrolment there first, then exit with the reason."""
    request = services.EnrolmentRequest(
        requested_on=min(enrolment.enrolled_at.date() + timedelta(days=20), ctx.today),
        requester_kind=RequesterKind.MEDICO_SOCIAL,
        requester_name="Équipe Sortie d'hospitalisation Villeurbanne",
        problem_categories=(ProblemCategory.DEPENDENCY,),
    )
    moved_at = _at(request.requested_on, ctx.rng, ctx.now)
    with clock.frozen(moved_at):
        services.enrol_patient(coordinator, patient, ctx.teams[2], request, audit)
        services.end_enrolment(
            coordinator, enrolment, EndReason.TRANSFERRED, "Relais par l'équipe de la CPTS.", audit
        )
    ctx.summary.closed_enrolments += 1


def _invite(
    ctx: _Context, plan: _Plan, patient: Patient, coordinator: User, audit: AuditContext
) -> None:
    """Invite a professional from outside the team into this patient's circle only."""
    invitee_key = {0: "quentin.silhouette", 1: "medecin", 2: "benoit.cascade"}[plan.team]
    days = ctx.rng.randint(30, 120)
    circle.invite_to_circle(
        coordinator,
        patient,
        ctx.users[invitee_key],
        ctx.now + timedelta(days=days),
        "Avis ponctuel demandé par l'équipe.",
        audit,
    )
    ctx.summary.invitations += 1


def _duplicates(ctx: _Context, firsts: list[tuple[Patient, IdentityData, int]]) -> None:
    """Create a second, provisional record for a few patients: flagged as possible duplicates."""
    for team_index, coordinator_key in DUPLICATES:
        patient, identity, _team = next(f for f in firsts if f[2] == team_index)
        firsts = [f for f in firsts if f[0] is not patient]
        coordinator = ctx.users[coordinator_key]
        audit = _audit(coordinator)
        duplicate = IdentityData(
            birth_name=identity.birth_name,
            first_names=identity.first_names.split(" ")[0],
            birth_year=identity.birth_year,
            birth_month=identity.birth_month,
            birth_day=identity.birth_day,
            sex=identity.sex,
            used_name=identity.used_name,
            identity_status=IdentityStatus.PROVISIONAL,
        )
        request = services.EnrolmentRequest(
            requested_on=ctx.today - timedelta(days=ctx.rng.randint(1, 20)),
            requester_kind=RequesterKind.HOSPITAL,
            requester_name=REQUESTERS[RequesterKind.HOSPITAL],
            problem_categories=(ProblemCategory.HOSPITAL_DISCHARGE,),
        )
        record = services.create_patient(
            coordinator, ctx.teams[team_index], duplicate, request, audit
        )
        circle.record_consent(
            coordinator,
            record,
            ConsentKind.SHARING,
            True,
            ConsentMethod.ORAL,
            "Accord recueilli à la sortie d'hospitalisation.",
            audit,
        )
        ctx.summary.patients += 1
        ctx.summary.duplicate_pairs += 1
