"""INS matricule (NIR/NIA) format, control key, OIDs, and the identity validation rules."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ptap.care_teams.identity import IdentityData, search_key, validate_identity
from ptap.core import clock
from ptap.core.errors import InvalidInput
from ptap.core.ins import (
    TEST_OIDS,
    InsOid,
    is_valid_nir,
    nir_error,
    nir_key,
    normalise_nir,
    with_key,
)

LENGTH_MESSAGE = "Le matricule INS compte 15 caractères (13 + clé de 2 chiffres)."
FORMAT_MESSAGE = "Le matricule INS n'a pas le format d'un NIR ou d'un NIA."
KEY_MESSAGE = "La clé de contrôle du matricule INS est incorrecte."

# --- strategies: every 13-character body the format accepts --------------------------------
#
# The regex: sex digit 1, 2, 3, 4, 7 or 8; year 2 digits; month 2 digits (01-12, or the
# special values 20-42 and 50+ of unknown or fictitious months: any two digits); department
# 2 digits, 2A or 2B (overseas 97x/98x are the digits "97"/"98" then a 3-digit commune code
# beginning with the third department digit); commune 3 digits; order number 3 digits.


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=n, max_size=n)


SEX = st.sampled_from("123478")
DEPARTMENT = st.one_of(_digits(2), st.sampled_from(["2A", "2B"]))
BODY = st.builds(
    lambda *parts: "".join(parts), SEX, _digits(2), _digits(2), DEPARTMENT, _digits(3), _digits(3)
)
CORSICAN_BODY = st.builds(
    lambda *parts: "".join(parts),
    SEX,
    _digits(2),
    _digits(2),
    st.sampled_from(["2A", "2B"]),
    _digits(3),
    _digits(3),
)


@given(BODY)
def test_with_key_always_gives_a_valid_matricule(body: str):
    nir = with_key(body)
    assert len(nir) == 15
    assert is_valid_nir(nir)
    assert nir_error(nir) is None
    assert 1 <= int(nir[13:]) <= 97


@given(BODY, st.data())
def test_every_single_digit_substitution_is_caught(body: str, data: st.DataObject):
    nir = with_key(body)
    positions = [i for i, c in enumerate(nir) if c.isdigit()]
    position = data.draw(st.sampled_from(positions), label="position")
    digit = data.draw(st.sampled_from("0123456789").filter(lambda d: d != nir[position]))
    altered = nir[:position] + digit + nir[position + 1 :]
    assert not is_valid_nir(altered)
    assert nir_error(altered) is not None


@given(BODY)
def test_every_single_digit_substitution_is_caught_exhaustively(body: str):
    nir = with_key(body)
    for position, current in enumerate(nir):
        if not current.isdigit():
            continue
        for digit in "0123456789".replace(current, ""):
            assert not is_valid_nir(nir[:position] + digit + nir[position + 1 :])


@given(CORSICAN_BODY)
def test_corsica_counts_2a_as_19_and_2b_as_18(body: str):
    numeric = body[:5] + ("19" if body[5:7] == "2A" else "18") + body[7:]
    assert nir_key(body) == nir_key(numeric) == f"{97 - int(numeric) % 97:02d}"
    # Swapping 2A and 2B (the only letter change the format allows) is caught as well.
    swapped = body[:6] + ("B" if body[6] == "A" else "A") + body[7:]
    assert not is_valid_nir(swapped + nir_key(body))


@given(BODY)
def test_normalised_spacing_and_case_are_accepted(body: str):
    nir = with_key(body)
    spaced = (
        f"{nir[0]} {nir[1:3]} {nir[3:5]}.{nir[5:7].lower()} {nir[7:10]} {nir[10:13]} {nir[13:]}"
    )
    assert normalise_nir(spaced) == nir
    assert is_valid_nir(spaced)


def test_key_worked_example():
    # 2 69 05 49 588 157: 2690549588157 mod 97 = 17, key 97 - 17 = 80.
    assert 2690549588157 % 97 == 17
    assert nir_key("2690549588157") == "80"
    assert is_valid_nir("2 69 05 49 588 157 80")


def test_corsica_key_worked_example():
    # 1 80 02 2A 123 456: 2A counts as 19, so the number is 1 80 02 19 123 456.
    # 1800219123456 = 18002191 x 100000 + 23456, with 100000 = 97 x 1030 + 90 and
    # 18002191 = 97 x 185589 + 58: the remainder is (58 x 90 + 23456) mod 97 = 28676 mod 97,
    # 28676 = 97 x 295 + 61, so the key is 97 - 61 = 36.
    assert 97 * 1030 + 90 == 100000
    assert 97 * 185589 + 58 == 18002191
    assert 97 * 295 + 61 == 58 * 90 + 23456
    assert 1800219123456 % 97 == 61
    assert nir_key("180022A123456") == "36"
    assert is_valid_nir("1 80 02 2A 123 456 36")
    # 2B counts as 18: one million less, and 10^6 mod 97 = 27, so 61 - 27 = 34, key 63.
    assert nir_key("180022B123456") == "63"
    assert is_valid_nir("180022B12345663")
    assert not is_valid_nir("180022B12345636")
    # Lower-case 2a is the same department.
    assert is_valid_nir("180022a12345636")


def test_key_may_be_97():
    # A body divisible by 97 has key 97 - 0 = 97, never 00.
    body = next(f"1800269{n:06d}" for n in range(1000) if int(f"1800269{n:06d}") % 97 == 0)
    assert nir_key(body) == "97"
    assert is_valid_nir(body + "97")
    assert not is_valid_nir(body + "00")


def test_normalise_nir():
    assert normalise_nir(" 1.80.02.2a.123.456.36 ") == "180022A12345636"
    assert normalise_nir("2 69 05 49\t588 157 80") == "269054958815780"
    assert normalise_nir("") == ""


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", LENGTH_MESSAGE),
        ("26905495881578", LENGTH_MESSAGE),  # 14 characters
        ("2690549588157800", LENGTH_MESSAGE),  # 16 characters
        ("2 69 05 49 588 157", LENGTH_MESSAGE),  # no key
        ("569054958815780", FORMAT_MESSAGE),  # sex digit 5
        ("069054958815780", FORMAT_MESSAGE),  # sex digit 0
        ("269052C58815780", FORMAT_MESSAGE),  # department 2C
        ("26905495881578X", FORMAT_MESSAGE),  # letter in the key
        ("2690549588A5780", FORMAT_MESSAGE),  # letter in the order number
        ("269054958815781", KEY_MESSAGE),
        ("269054958815700", KEY_MESSAGE),
    ],
)
def test_nir_error_messages(value: str, message: str):
    assert nir_error(value) == message
    assert not is_valid_nir(value)


def test_nir_error_none_when_valid():
    assert nir_error("2 69 05 49 588 157 80") is None


def test_oids():
    assert InsOid.NIR == "1.2.250.1.213.1.4.8"
    assert InsOid.NIA == "1.2.250.1.213.1.4.9"
    assert InsOid.TEST_NIR == "1.2.250.1.213.1.4.10"
    assert InsOid.TEST_NIA == "1.2.250.1.213.1.4.11"
    assert frozenset({InsOid.TEST_NIR, InsOid.TEST_NIA}) == TEST_OIDS


# --- validate_identity -----------------------------------------------------------------------

NIR_F_1940_05 = with_key("2400569381001")


def identity(**changes: object) -> IdentityData:
    base = IdentityData(
        birth_name="Dupont",
        first_names="Marie Louise",
        birth_year=1940,
        birth_month=5,
        birth_day=12,
        sex="F",
        birthplace_code="69381",
        ins_matricule=NIR_F_1940_05,
        ins_oid=InsOid.NIR,
        identity_status="qualified",
        identity_check_method="insi_and_document",
    )
    return dataclasses.replace(base, **changes)


def refused(data: IdentityData, *, allow_test: bool = True) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        validate_identity(data, allow_test_identities=allow_test)
    return caught.value


def test_valid_qualified_identity_passes():
    validate_identity(identity(), allow_test_identities=False)


def test_provisional_identity_without_ins_passes():
    validate_identity(
        identity(
            ins_matricule="",
            ins_oid="",
            identity_status="provisional",
            identity_check_method="",
            birthplace_code="",
        ),
        allow_test_identities=False,
    )


def test_spaced_matricule_is_accepted():
    spaced = " ".join([NIR_F_1940_05[:1], NIR_F_1940_05[1:5], NIR_F_1940_05[5:]])
    validate_identity(identity(ins_matricule=spaced), allow_test_identities=False)


@pytest.mark.parametrize(
    ("matricule", "message"),
    [
        ("240056938100", LENGTH_MESSAGE),
        ("540056938100199", FORMAT_MESSAGE),
        (NIR_F_1940_05[:13] + f"{(int(NIR_F_1940_05[13:]) % 97) + 1:02d}", KEY_MESSAGE),
    ],
)
def test_bad_matricule_is_refused_with_french_message(matricule: str, message: str):
    error = refused(identity(ins_matricule=matricule))
    assert error.field == "ins_matricule"
    assert error.message == message


def test_unknown_oid_is_refused():
    for oid in ("", "1.2.250.1.213.1.4.2", "1.2.250.1.213.1.4.8.1"):
        error = refused(identity(ins_oid=oid))
        assert error.field == "ins_oid"
        assert "OID INS inconnu" in error.message


def test_oid_without_matricule_is_refused():
    error = refused(identity(ins_matricule="", identity_status="validated"))
    assert error.field == "ins_matricule"


@pytest.mark.parametrize("oid", [InsOid.TEST_NIR, InsOid.TEST_NIA])
def test_test_oids_refused_unless_allowed(oid: str):
    error = refused(identity(ins_oid=oid), allow_test=False)
    assert error.field == "ins_oid"
    assert error.message == "Les identités de test sont refusées ici."
    validate_identity(identity(ins_oid=oid), allow_test_identities=True)


@pytest.mark.parametrize("oid", [InsOid.NIR, InsOid.NIA])
def test_real_oids_accepted_even_without_test_identities(oid: str):
    validate_identity(identity(ins_oid=oid), allow_test_identities=False)


def test_sex_mismatch_is_refused_on_sex():
    error = refused(identity(sex="M"))
    assert error.field == "sex"
    assert error.message == "Le sexe ne correspond pas au matricule INS."
    male = with_key("1400569381001")
    assert refused(identity(ins_matricule=male)).field == "sex"
    validate_identity(identity(ins_matricule=male, sex="M"), allow_test_identities=False)


def test_undetermined_sex_is_not_compared():
    validate_identity(identity(sex="I"), allow_test_identities=False)


def test_year_mismatch_is_refused_on_birth_date():
    error = refused(identity(birth_year=1941))
    assert error.field == "birth_date"
    assert error.message == "L'année de naissance ne correspond pas au matricule INS."
    # Only the last two digits are encoded: 1900 and 2000 both read "00".
    nir_00 = with_key("2000569381001")
    for year in (1900, 2000):
        validate_identity(
            identity(ins_matricule=nir_00, birth_year=year), allow_test_identities=False
        )


def test_month_mismatch_is_refused_on_birth_date():
    error = refused(identity(birth_month=6, birth_day=1))
    assert error.field == "birth_date"
    assert error.message == "Le mois de naissance ne correspond pas au matricule INS."


def test_special_nir_month_is_not_compared():
    # Month 20-42 or 50+: unknown month at registration; any known month is coherent.
    unknown_month = with_key("2403069381001")
    validate_identity(
        identity(ins_matricule=unknown_month, birth_month=11, birth_day=3),
        allow_test_identities=False,
    )


def test_unknown_birth_month_is_not_compared():
    validate_identity(identity(birth_month=None, birth_day=None), allow_test_identities=False)


def test_day_without_month_is_refused():
    error = refused(identity(birth_month=None, birth_day=12))
    assert error.field == "birth_date"
    assert error.message == "Un jour sans mois de naissance n'est pas valide."


def test_unknown_day_with_known_month_is_allowed():
    validate_identity(identity(birth_day=None), allow_test_identities=False)


@pytest.mark.parametrize(
    ("year", "month", "day"),
    [(1879, None, None), (1940, 13, None), (1940, 0, None), (1940, 2, 30), (1940, 4, 31)],
)
def test_impossible_birth_dates_are_refused(year: int, month: int | None, day: int | None):
    data = identity(
        birth_year=year,
        birth_month=month,
        birth_day=day,
        ins_matricule="",
        ins_oid="",
        identity_status="provisional",
        identity_check_method="",
    )
    assert refused(data).field == "birth_date"


def test_future_birth_dates_are_refused():
    today = clock.paris_today()
    provisional = {
        "ins_matricule": "",
        "ins_oid": "",
        "identity_status": "provisional",
        "identity_check_method": "",
    }
    assert refused(identity(birth_year=today.year + 1, **provisional)).field == "birth_date"
    if today.month < 12:
        tomorrowish = identity(
            birth_year=today.year, birth_month=today.month + 1, birth_day=1, **provisional
        )
        assert refused(tomorrowish).field == "birth_date"


def test_validated_needs_a_high_trust_document():
    for method in ("", "insi"):
        error = refused(identity(identity_status="validated", identity_check_method=method))
        assert error.field == "identity_check_method"
    for method in ("identity_card", "passport", "residence_permit", "family_record_book"):
        validate_identity(
            identity(identity_status="validated", identity_check_method=method),
            allow_test_identities=False,
        )


def test_validated_without_ins_is_allowed():
    validate_identity(
        identity(
            identity_status="validated",
            identity_check_method="passport",
            ins_matricule="",
            ins_oid="",
        ),
        allow_test_identities=False,
    )


@pytest.mark.parametrize("status", ["recovered", "qualified"])
def test_recovered_and_qualified_need_an_ins(status: str):
    for blank in ("", "   "):
        error = refused(identity(identity_status=status, ins_matricule=blank, ins_oid=""))
        assert error.field == "ins_matricule"


def test_recovered_with_ins_passes():
    validate_identity(
        identity(identity_status="recovered", identity_check_method="insi"),
        allow_test_identities=False,
    )


@pytest.mark.parametrize("method", ["", "insi", "passport", "identity_card"])
def test_qualified_needs_insi_and_document(method: str):
    error = refused(identity(identity_check_method=method))
    assert error.field == "identity_check_method"
    assert "INSi" in error.message


def test_qualified_needs_a_birthplace():
    error = refused(identity(birthplace_code=""))
    assert error.field == "birthplace_code"
    validate_identity(
        identity(birthplace_code="", identity_status="recovered", identity_check_method="insi"),
        allow_test_identities=False,
    )


def test_unknown_check_method_is_refused():
    error = refused(identity(identity_status="provisional", identity_check_method="fax"))
    assert error.field == "identity_check_method"


def test_unknown_status_is_refused():
    assert refused(identity(identity_status="certified")).field == "identity_status"


@pytest.mark.parametrize("code", ["6938", "693810", "2C123", "ABCDE"])
def test_bad_birthplace_is_refused(code: str):
    assert refused(identity(birthplace_code=code)).field == "birthplace_code"


@pytest.mark.parametrize("code", ["69381", "2A004", "2B033", "99100", "97411"])
def test_birthplace_codes_accepted(code: str):
    validate_identity(identity(birthplace_code=code), allow_test_identities=False)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("birth_name", ""),
        ("birth_name", "   "),
        ("birth_name", "Dupont3"),
        ("first_names", ""),
        ("first_names", "Marie_Louise"),
        ("used_name", "Martin!"),
        ("used_first_name", "<b>"),
    ],
)
def test_bad_names_are_refused(field: str, value: str):
    assert refused(identity(**{field: value})).field == field


def test_french_names_are_accepted():
    validate_identity(
        identity(birth_name="Le Hénaff-D'Arçy", first_names="Zoé Anaïs", used_name="Müller"),
        allow_test_identities=False,
    )


def test_bad_sex_is_refused():
    assert refused(identity(sex="X")).field == "sex"


def test_search_key_ignores_case_accents_and_punctuation():
    assert search_key("Dupont") == search_key("DUPONT") == search_key("Dupônt") == "DUPONT"
    assert search_key("Le Hénaff-D'Arçy") == "LE HENAFF D ARCY"
    assert search_key("  Dupont   Martin ") == search_key("Dupont-Martin") == "DUPONT MARTIN"
    assert search_key("") == ""


def test_sex_parity_covers_provisional_and_nia_digits():
    import pytest

    from ptap.care_teams.identity import IdentityData, validate_identity
    from ptap.core.errors import InvalidInput
    from ptap.core.ins import with_key

    def identity(sex, first_digit):
        return IdentityData(
            birth_name="Exemple",
            first_names="Camille",
            birth_year=1950,
            birth_month=3,
            birth_day=1,
            sex=sex,
            birthplace_code="69381",
            ins_matricule=with_key(f"{first_digit}5003693810012"[:13]),
            ins_oid="1.2.250.1.213.1.4.11",
        )

    for digit, sex in (("3", "M"), ("4", "F"), ("7", "M"), ("8", "F")):
        validate_identity(identity(sex, digit), allow_test_identities=True)
    with pytest.raises(InvalidInput) as exc:
        validate_identity(identity("F", "7"), allow_test_identities=True)
    assert exc.value.field == "sex"


def test_ligatures_are_accepted_and_searchable():
    from ptap.care_teams.identity import search_key

    assert search_key("Lœuvre") == "LOEUVRE"
    assert search_key("LAETITIA") == search_key("Lætitia")
