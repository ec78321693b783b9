"""Check digits of French health identifiers (RPPS, FINESS: Luhn)."""

from __future__ import annotations


def luhn_valid(digits: str) -> bool:
    """Tell whether a string of digits passes the Luhn check."""
    if not (digits.isascii() and digits.isdecimal()):
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def luhn_check_digit(partial: str) -> str:
    """Return the digit that makes `partial` + digit pass the Luhn check."""
    for d in "0123456789":
        if luhn_valid(partial + d):
            return d
    raise ValueError("no Luhn digit")  # pragma: no cover - one digit always fits


def is_valid_rpps(value: str) -> bool:
    """Tell whether `value` is an RPPS number: 11 digits with a Luhn check digit."""
    return len(value) == 11 and luhn_valid(value)


def is_valid_finess(value: str) -> bool:
    """Tell whether `value` is a FINESS number: 9 digits with a Luhn check digit."""
    # isascii: str.isdigit() also accepts digits such as "²", which int() refuses.
    return len(value) == 9 and value.isascii() and luhn_valid(value)
