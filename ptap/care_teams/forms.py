"""Flask-WTF forms of the patient and team pages (labels and messages in French).

Forms only parse: the rules (identity vigilance, INS key, enrolment request) live in the
services, whose InvalidInput errors name the form field they belong to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    Field,
    Form,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.utils import unset_value
from wtforms.validators import AnyOf, Length

from ptap.accounts.forms import MultiCheckboxField
from ptap.accounts.models import User
from ptap.care_teams.identity import CHECK_METHODS, DOCUMENT_TYPES, IdentityData
from ptap.care_teams.models import (
    CONTACT_KIND_LABELS,
    END_REASON_LABELS,
    IDENTITY_STATUS_LABELS,
    PROBLEM_CATEGORY_LABELS,
    REQUESTER_KIND_LABELS,
    SEX_LABELS,
    CareTeam,
    IdentityStatus,
    Patient,
)
from ptap.care_teams.services import ContactData, EnrolmentRequest
from ptap.core import clock
from ptap.core.errors import InvalidInput
from ptap.core.ins import INS_OID_LABELS

TOO_LONG = "Texte trop long."
#: The statuses a person may choose by hand; the others come from INSi answers.
HAND_STATUSES = (IdentityStatus.PROVISIONAL, IdentityStatus.VALIDATED)
BAD_CHOICE = "Choix invalide."
CHOOSE = SelectChoice("", "— Choisir —")


def _choices(labels: dict[Any, str], blank: SelectChoice | None = CHOOSE) -> list[SelectChoice]:
    items = [SelectChoice(str(key), label) for key, label in labels.items()]
    return [blank, *items] if blank else items


def _select(label: str, choices: list[SelectChoice], **kwargs: Any) -> SelectField:
    return SelectField(label, choices=choices, invalid_choice_message=BAD_CHOICE, **kwargs)


def _text(label: str, max_length: int, **kwargs: Any) -> StringField:
    return StringField(label, validators=[Length(max=max_length, message=TOO_LONG)], **kwargs)


class PartialDateField(Field):
    """A birth date typed as three inputs: day and month may stay empty, the year may not.

    Its data is the (day, month, year) strings; `parts()` turns them into numbers. One field,
    so a service error naming `birth_date` lands next to the three inputs.
    """

    PARTS = ("day", "month", "year")

    def process(self, formdata, data=unset_value, extra_filters=None):  # noqa: ANN001
        self.process_errors = []
        if data is unset_value or data is None:
            data = ("", "", "")
        self.object_data = data
        self.data = tuple("" if v is None else str(v) for v in data)
        if formdata is not None:
            self.raw_data = [formdata.get(f"{self.name}-{part}", "") for part in self.PARTS]
            self.data = tuple(v.strip() for v in self.raw_data)

    def input_id(self, part: str) -> str:
        """Return the id of one of the three inputs (the first one is the field's id)."""
        return self.id if part == "day" else f"{self.id}-{part}"

    def parts(self) -> tuple[int | None, int | None, int]:
        """Return (day, month, year) as numbers; raise InvalidInput naming the field."""
        day, month, year = self.data
        if not year:
            raise InvalidInput("L'année de naissance est obligatoire.", field=self.name)
        if not all(v.isdecimal() for v in (day, month, year) if v):
            raise InvalidInput(
                "Le jour, le mois et l'année de naissance s'écrivent en chiffres.",
                field=self.name,
            )
        if len(year) != 4:
            raise InvalidInput("L'année de naissance s'écrit sur 4 chiffres.", field=self.name)
        return (int(day) if day else None, int(month) if month else None, int(year))


class IdentityForm(FlaskForm):
    """Strict traits, INS and identity status of a patient."""

    birth_name = _text("Nom de naissance", 100, render_kw={"autocomplete": "off"})
    used_name = _text("Nom utilisé (facultatif)", 100, render_kw={"autocomplete": "off"})
    first_names = _text("Prénoms de naissance", 200, render_kw={"autocomplete": "off"})
    used_first_name = _text("Prénom utilisé (facultatif)", 100, render_kw={"autocomplete": "off"})
    birth_date = PartialDateField("Date de naissance")
    sex = _select("Sexe", _choices(SEX_LABELS))
    birthplace_code = _text(
        "Code INSEE du lieu de naissance", 5, render_kw={"inputmode": "numeric"}
    )
    ins_matricule = _text(
        "Matricule INS (NIR ou NIA)", 21, render_kw={"autocomplete": "off", "inputmode": "numeric"}
    )
    ins_oid = _select(
        "Type de matricule (OID)",
        _choices(
            {oid: f"{label} ({oid})" for oid, label in INS_OID_LABELS.items()},
            SelectChoice("", "— Aucun matricule —"),
        ),
    )
    # Recovered and qualified are never offered: only an INSi answer gives them (RNIV). A
    # record that has one keeps it as a choice, so saving other fields does not lose it.
    identity_status = _select(
        "Statut de l'identité",
        _choices(
            {s: IDENTITY_STATUS_LABELS[s] for s in HAND_STATUSES},
            blank=None,
        ),
        default=IdentityStatus.PROVISIONAL.value,
    )
    identity_check_method = _select(
        "Pièce d'identité vérifiée",
        _choices(DOCUMENT_TYPES, SelectChoice("", "— Aucune vérification —")),
    )

    @classmethod
    def for_patient(cls, patient: Patient) -> IdentityForm:
        """Return the form prefilled with the patient's identity (typed values win on POST)."""
        names = (
            *("birth_name", "used_name", "first_names", "used_first_name", "sex"),
            *("birthplace_code", "identity_status", "identity_check_method"),
        )
        data: dict[str, Any] = {name: getattr(patient, name) for name in names}
        data["birth_date"] = tuple(
            f"{v:02d}" if v else "" for v in (patient.birth_day, patient.birth_month)
        ) + (str(patient.birth_year),)
        data["ins_matricule"] = patient.ins_matricule or ""
        data["ins_oid"] = patient.ins_oid or ""
        form = cls(data=data)
        if patient.identity_status not in HAND_STATUSES:
            form.identity_status.choices = [
                *form.identity_status.choices,
                SelectChoice(
                    patient.identity_status,
                    IDENTITY_STATUS_LABELS[IdentityStatus(patient.identity_status)],
                ),
            ]
        method = patient.identity_check_method
        if method and method not in DOCUMENT_TYPES:
            form.identity_check_method.choices = [
                *form.identity_check_method.choices,
                SelectChoice(method, CHECK_METHODS.get(method, method)),
            ]
        return form

    def identity(self) -> IdentityData:
        """Return the identity as typed; raise InvalidInput for an unreadable birth date."""
        day, month, year = self.birth_date.parts()
        return IdentityData(
            birth_name=self.birth_name.data or "",
            first_names=" ".join((self.first_names.data or "").split()),
            birth_year=year,
            birth_month=month,
            birth_day=day,
            sex=self.sex.data or "",
            birthplace_code=(self.birthplace_code.data or "").strip().upper(),
            used_name=self.used_name.data or "",
            used_first_name=self.used_first_name.data or "",
            ins_matricule=self.ins_matricule.data or "",
            ins_oid=self.ins_oid.data or "",
            identity_status=self.identity_status.data or IdentityStatus.PROVISIONAL,
            identity_check_method=self.identity_check_method.data or "",
        )


class InsiForm(FlaskForm):
    """The "Interroger INSi" buttons: search by traits, or verify the recorded INS."""

    op = StringField(validators=[AnyOf(["retrieve", "verify"], message="Opération inconnue.")])


class DocumentCheckForm(FlaskForm):
    """The "Contrôle de la pièce d'identité" form: which high-trust document was seen."""

    document_type = _select("Pièce d'identité vérifiée", _choices(DOCUMENT_TYPES))


class PatientForm(IdentityForm):
    """A new patient: identity, the team that follows them and the enrolment request."""

    team_id = _select("Équipe qui suit la personne", [])
    requested_on = DateField(
        "Date de la demande",
        default=clock.paris_today,
        invalid_value_message="Indiquez la date de la demande (jj/mm/aaaa).",
    )
    requester_kind = _select("Demande faite par", _choices(REQUESTER_KIND_LABELS))
    requester_name = _text("Nom du demandeur (facultatif)", 200)
    problem_categories = MultiCheckboxField(
        "Motifs de la demande",
        choices=_choices(PROBLEM_CATEGORY_LABELS, blank=None),
        invalid_choice_message=BAD_CHOICE,
    )

    def __init__(self, *args: Any, teams: Sequence[CareTeam] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._teams = {team.id: team for team in teams}
        blank = [CHOOSE] if len(teams) > 1 else []
        self.team_id.choices = [*blank, *(SelectChoice(str(t.id), t.name) for t in teams)]

    def team(self) -> CareTeam:
        """Return the chosen team, one of those the user coordinates."""
        data = self.team_id.data or ""
        team = self._teams.get(int(data)) if data.isdecimal() else None
        if team is None:
            raise InvalidInput("Choisissez l'équipe qui suivra la personne.", field="team_id")
        return team

    def enrolment_request(self) -> EnrolmentRequest:
        """Return who asked for the enrolment, when and why."""
        if self.requested_on.data is None:
            raise InvalidInput("Indiquez la date de la demande.", field="requested_on")
        return EnrolmentRequest(
            requested_on=self.requested_on.data,
            requester_kind=self.requester_kind.data or "",
            requester_name=self.requester_name.data or "",
            problem_categories=tuple(self.problem_categories.data or ()),
        )


class PatientSearchForm(Form):
    """The patient list's search box and filters (GET, no CSRF: it changes nothing)."""

    q = _text(
        "Nom, prénom, INS ou date de naissance",
        120,
        render_kw={"type": "search", "autocomplete": "off", "spellcheck": "false"},
    )
    team = _select("Équipe", [SelectChoice("", "Toutes mes équipes")], default="")
    referent = _select("Référent·e", [SelectChoice("", "Tous")], default="")
    plan_status = _select("Plan de coordination", [SelectChoice("", "Tous")], default="")
    review_due = BooleanField("Réévaluation à prévoir")
    consent = BooleanField("Consentement à recueillir")

    def offer(self, teams: Sequence[CareTeam], statuses: Sequence[tuple[str, str]]) -> None:
        """Fill the filters' choices: the user's teams, the plan statuses (none: no filter)."""
        self.team.choices = [SelectChoice("", "Toutes mes équipes")] + [
            SelectChoice(str(t.id), t.name) for t in teams
        ]
        self.plan_status.choices = [SelectChoice("", "Tous")] + [
            SelectChoice(value, text) for value, text in statuses
        ]

    def offer_referents(self, me: int, coordinators: Sequence[User]) -> None:
        """Fill the referent filter: oneself, then the coordinators of one's teams."""
        self.referent.choices = [SelectChoice("", "Tous"), SelectChoice("me", "Moi")] + [
            SelectChoice(str(u.id), u.full_name) for u in coordinators if u.id != me
        ]

    def referent_id(self, me: int) -> int | None:
        """Return the chosen referent's id ("me": the user), or None for any."""
        if not self.referent.data:
            return None
        return me if self.referent.data == "me" else int(self.referent.data)

    def team_id(self) -> int | None:
        """Return the chosen team's id (validated against the choices), or None for all."""
        return int(self.team.data) if self.team.data else None


class ContactForm(FlaskForm):
    """A caregiver, trusted person, legal representative or other contact."""

    kind = _select("Type de contact", _choices(CONTACT_KIND_LABELS))
    name = _text("Nom et prénom", 200, render_kw={"autocomplete": "off"})
    relationship_label = _text("Lien avec la personne (facultatif)", 100)
    phone = _text("Téléphone (facultatif)", 30, render_kw={"type": "tel"})
    email = _text("Adresse e-mail (facultative)", 255, render_kw={"type": "email"})

    def contact(self) -> ContactData:
        """Return the contact as typed."""
        return ContactData(
            kind=self.kind.data or "",
            name=self.name.data or "",
            relationship_label=self.relationship_label.data or "",
            phone=self.phone.data or "",
            email=self.email.data or "",
        )


class DetailsForm(FlaskForm):
    """Address, phone, e-mail and GP (médecin traitant) of a patient."""

    address = _text("Adresse", 300, render_kw={"autocomplete": "off"})
    postal_code = _text("Code postal", 10, render_kw={"inputmode": "numeric"})
    city = _text("Commune", 100)
    phone = _text("Téléphone", 30, render_kw={"type": "tel"})
    email = _text("Adresse e-mail", 255, render_kw={"type": "email"})
    #: Typed name of the GP, completed like the team member field (never a list of every
    #: physician); empty means no registered GP.
    gp_person = _text("Médecin traitant inscrit sur PTAP", 100, render_kw={"autocomplete": "off"})
    gp_user_id = HiddenField("Médecin traitant inscrit sur PTAP")
    gp_name = _text("ou médecin traitant non inscrit (nom, commune)", 200)
    #: (id, label) of the physicians matching the typed name, when several do.
    person_choices: tuple[tuple[int, str], ...] = ()

    @classmethod
    def for_patient(cls, patient: Patient, gp: User | None) -> DetailsForm:
        """Return the form prefilled with the patient's details."""
        names = ("address", "postal_code", "city", "phone", "email", "gp_name")
        data: dict[str, Any] = {name: getattr(patient, name) for name in names}
        data["gp_user_id"] = str(gp.id) if gp else ""
        data["gp_person"] = f"{gp.last_name} {gp.first_name}" if gp else ""
        return cls(data=data)

    def details(self, gp_user_id: int | None) -> dict[str, Any]:
        """Return the keyword arguments of `update_contact_details`."""
        return {
            "address": self.address.data or "",
            "postal_code": (self.postal_code.data or "").strip(),
            "city": self.city.data or "",
            "phone": self.phone.data or "",
            "email": self.email.data or "",
            "gp_user_id": gp_user_id,
            "gp_name": self.gp_name.data or "",
        }


class EndEnrolmentForm(FlaskForm):
    """Close a patient's follow-up by a team (one form per enrolment: prefix end<id>-)."""

    end_reason = _select("Motif de sortie", _choices(END_REASON_LABELS))
    end_note = TextAreaField(
        "Précisions (obligatoires pour « Autre motif »)",
        validators=[Length(max=2000, message=TOO_LONG)],
        render_kw={"rows": 2},
    )

    @classmethod
    def for_enrolment(cls, enrolment_id: int, **kwargs: Any) -> EndEnrolmentForm:
        """Return the form of one enrolment (its own field ids on a page listing several)."""
        return cls(prefix=f"end{enrolment_id}", **kwargs)
