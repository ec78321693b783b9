"""Input bounds checked before any query: integer ranges, JSON body size and nesting depth.

Every id column is a 32-bit signed INTEGER on PostgreSQL; a larger number reaching a query
raises "integer out of range" there (and OverflowError on SQLite beyond 2^63), which would be
a 500. So `<int:...>` in any URL rule is bounded (a larger id simply matches no route: 404),
JSON bodies are refused (422) when they carry an integer outside that range, and a JSON body
too large or nested too deep is refused before the parser (whose recursion would fail).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from flask import Flask, current_app, request
from pydantic import Field
from werkzeug.routing import IntegerConverter

from ptap.core.errors import InvalidInput

#: Largest value of a PostgreSQL INTEGER column (ids, numbers, counters).
MAX_DB_INT = 2**31 - 1
MIN_DB_INT = -(2**31)

#: A database id in a JSON body or a query string: positive and within the column's range.
DbId = Annotated[int, Field(ge=1, le=MAX_DB_INT)]

_BRACKETS = re.compile(rb"[\[\]{}]")
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')


def digits_up_to(limit: int) -> str:
    """Return a regex matching the decimal numbers from 0 to `limit` (leading zeros allowed).

    The bound must live in the regex, not only in `to_python`: werkzeug reports a 405 instead
    of a 404 when a path matches one rule's pattern but its value is then refused.
    """
    text = str(limit)
    if len(text) == 1:
        return f"[0-{text}]"
    options = [rf"\d{{1,{len(text) - 1}}}"]
    for i, digit in enumerate(text):
        rest = len(text) - i - 1
        if int(digit) > (1 if i == 0 else 0):
            low = "1" if i == 0 else "0"
            tail = rf"\d{{{rest}}}" if rest else ""
            options.append(f"{text[:i]}[{low}-{int(digit) - 1}]{tail}")
    options.append(text)
    return "(?:" + "|".join(options) + ")"


class BoundedIntConverter(IntegerConverter):
    """The `int` URL converter, bounded to the INTEGER column range (a larger id: 404)."""

    regex = digits_up_to(MAX_DB_INT)

    def __init__(
        self,
        map: Any,  # noqa: A002 - werkzeug's parameter name
        fixed_digits: int = 0,
        min: int | None = None,  # noqa: A002
        max: int | None = None,  # noqa: A002
        signed: bool = False,
    ) -> None:
        super().__init__(
            map,
            fixed_digits=fixed_digits,
            min=min,
            max=MAX_DB_INT if max is None else max,
            signed=signed,
        )


def json_depth(data: bytes, limit: int) -> int:
    """Return the nesting depth of a JSON text, stopping as soon as it passes `limit`.

    Strings are blanked first so that brackets inside them do not count; the text is not
    validated here (the parser does that afterwards).
    """
    depth = deepest = 0
    for match in _BRACKETS.finditer(_STRINGS.sub(b'""', data)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
        else:
            depth -= 1
    return deepest


def check_json_body() -> None:
    """Refuse a JSON request body that is too large or nested too deep, before parsing it."""
    if request.method in ("GET", "HEAD", "OPTIONS") or not request.is_json:
        return
    max_bytes = int(current_app.config["JSON_MAX_KB"]) * 1024
    if request.content_length is not None and request.content_length > max_bytes:
        raise BodyTooLarge()
    data = request.get_data(cache=True)
    if len(data) > max_bytes:
        raise BodyTooLarge()
    if json_depth(data, int(current_app.config["JSON_MAX_DEPTH"])) > int(
        current_app.config["JSON_MAX_DEPTH"]
    ):
        raise InvalidInput(
            "Le corps JSON est trop imbriqué "
            f"(au plus {current_app.config['JSON_MAX_DEPTH']} niveaux).",
            field="body",
        )


class BodyTooLarge(InvalidInput):
    """The request body is larger than the JSON limit."""

    status = 413
    title = "Requête trop volumineuse"

    def __init__(self) -> None:
        super().__init__(
            f"Le corps JSON dépasse la taille autorisée ({current_app.config['JSON_MAX_KB']} Ko).",
            field="body",
        )


def out_of_range_integer(data: Any, path: str = "") -> str | None:
    """Return the path of the first integer outside the INTEGER range in parsed JSON, if any."""
    stack: list[tuple[str, Any]] = [(path, data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and not MIN_DB_INT <= value <= MAX_DB_INT:
            return where or "body"
        if isinstance(value, float) and value.is_integer() and abs(value) > MAX_DB_INT:
            return where or "body"
        if isinstance(value, dict):
            stack.extend((f"{where}.{k}" if where else str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{where}.{i}" if where else str(i), v) for i, v in enumerate(value))
    return None


def query_int(name: str, default: int) -> int:
    """Read a positive integer query parameter within the INTEGER range (422 otherwise)."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdecimal()) or not 1 <= int(raw) <= MAX_DB_INT:
        raise InvalidInput(f"{name} doit être un entier positif.", field=name)
    return int(raw)


def install_bounds(app: Flask) -> None:
    """Bound the `int` URL converter and check JSON bodies before any view parses them.

    Call before any blueprint is registered: rules bind their converters when added.
    """
    app.url_map.converters["int"] = BoundedIntConverter
    app.before_request(check_json_body)
