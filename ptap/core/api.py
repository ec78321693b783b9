"""The JSON API machinery: endpoint registry, problem+json errors, cursor pagination, OpenAPI.

Domains declare endpoints with ``@api_route``; the declaration drives routing, authentication,
the policy check, body validation, serialisation and the OpenAPI document alike, so the
document cannot drift from the code.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, g, jsonify, request
from pydantic import BaseModel, ValidationError

from ptap.core.bounds import MAX_DB_INT, out_of_range_integer
from ptap.core.errors import DomainError, InvalidInput
from ptap.core.policy import PUBLIC, public, requires

api_bp = Blueprint("api", __name__, url_prefix="/api/v1")
PROBLEM_TYPE = "https://ptap.example/problems/"
T = TypeVar("T")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    field: str | None = None,
    errors: list[dict[str, str]] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    """Build an RFC 9457 application/problem+json response naming the offending field.

    `extra` adds extension members (RFC 9457 §3.2), e.g. the record a conflict is about;
    it cannot override the standard members.
    """
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + str(status),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if field:
        body["field"] = field
    if errors:
        body["errors"] = errors
    elif field:
        body["errors"] = [{"field": field, "message": detail}]
    for key, value in (extra or {}).items():
        body.setdefault(key, value)
    response = Response(json.dumps(body, ensure_ascii=False), status=status)
    response.content_type = "application/problem+json"
    return response


# --- Cursor pagination ---------------------------------------------------------------------


class PageMeta(BaseModel):
    """Pagination block of a list response."""

    next_cursor: str | None
    limit: int


@dataclass
class Page(Generic[T]):
    """One page of items and the opaque cursor of the next page (None at the end)."""

    items: Sequence[T]
    next_cursor: str | None
    limit: int


@contextmanager
def fields_under(paths: dict[str, str]) -> Iterator[None]:
    """Rename the field of a domain error raised inside the block to its request-body path
    (services name the fields of their own inputs; the problem must name the body's path)."""
    try:
        yield
    except DomainError as exc:
        if exc.field in paths:
            exc.field = paths[exc.field]
        raise


def encode_cursor(position: dict[str, Any]) -> str:
    """Encode a position as an opaque, URL-safe cursor."""
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    """Decode a cursor or raise InvalidInput naming the `cursor` parameter."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidInput("Curseur de pagination invalide.", field="cursor") from exc
    after = value.get("after") if isinstance(value, dict) else None
    if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after <= MAX_DB_INT:
        raise InvalidInput("Curseur de pagination invalide.", field="cursor")
    return value


def page_limit() -> int:
    """Read the `limit` query parameter, within the configured bounds."""
    raw = request.args.get("limit")
    default = int(current_app.config["API_PAGE_SIZE"])
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdecimal()) or not (
        1 <= int(raw) <= int(current_app.config["API_MAX_PAGE_SIZE"])
    ):
        raise InvalidInput(
            f"limit doit être un entier entre 1 et {current_app.config['API_MAX_PAGE_SIZE']}.",
            field="limit",
        )
    return int(raw)


def paginate_by_id(
    stmt: sa.Select[Any], id_column: Any, *, limit: int | None = None, descending: bool = False
) -> Page[Any]:
    """Return the page after the request's cursor, keyed by a unique increasing id column
    (newest first when `descending`)."""
    from ptap.extensions import db

    limit = limit or page_limit()
    cursor = request.args.get("cursor")
    if cursor:
        position = decode_cursor(cursor)["after"]
        stmt = stmt.where(id_column < position if descending else id_column > position)
    order = id_column.desc() if descending else id_column
    rows = list(db.session.scalars(stmt.order_by(None).order_by(order).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor({"after": _id_of(rows[-1], id_column)}) if more else None
    return Page(rows, next_cursor, limit)


def _id_of(row: Any, id_column: Any) -> int:
    return int(getattr(row, id_column.key))


def _json_key(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _sql_key(value: Any, expression: Any) -> Any:
    # The affinity sees through TypeDecorators (UTCDateTime is a DateTime).
    affinity = expression.type._type_affinity
    parsers: dict[Any, Callable[[str], Any]] = {
        sa.DateTime: datetime.fromisoformat,
        sa.Date: date.fromisoformat,
    }
    parse = parsers.get(affinity)
    if parse is not None:
        if not isinstance(value, str):
            raise InvalidInput("Curseur de pagination invalide.", field="cursor")
        try:
            parsed = parse(value)
        except ValueError as exc:
            raise InvalidInput("Curseur de pagination invalide.", field="cursor") from exc
        if isinstance(parsed, datetime) and parsed.tzinfo is None:
            raise InvalidInput("Curseur de pagination invalide.", field="cursor")
        return parsed
    return value


def paginate_keyset(
    stmt: sa.Select[Any],
    keys: Sequence[Any],
    key_of: Callable[[Any], Sequence[Any]],
    *,
    limit: int,
    cursor: str | None = None,
    descending: bool = False,
) -> Page[Any]:
    """Return the page of `stmt` after `cursor`, ordered by `keys` (SQL expressions, the last
    one a unique id; all ascending, or all descending), as rows of `execute()`.

    Rows compare as tuples (`(a, b, id) > (:a, :b, :id)`, on PostgreSQL and SQLite alike), so
    a sort on several columns pages without gaps or repeats. `key_of(row)` returns the row's
    key values; the cursor carries them (dates as ISO strings), the id as `after`.
    """
    from ptap.extensions import db

    if cursor:
        position = decode_cursor(cursor)
        values = [*position.get("key", []), position["after"]]
        if len(values) != len(keys):
            raise InvalidInput("Curseur de pagination invalide.", field="cursor")
        bound = sa.tuple_(
            *(sa.literal(_sql_key(v, k), type_=k.type) for v, k in zip(values, keys, strict=True))
        )
        row_key = sa.tuple_(*keys)
        stmt = stmt.where(row_key < bound if descending else row_key > bound)
    order = [k.desc() if descending else k.asc() for k in keys]
    rows = list(db.session.execute(stmt.order_by(None).order_by(*order).limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        *rest, last_id = key_of(rows[-1])
        next_cursor = encode_cursor({"after": int(last_id), "key": [_json_key(v) for v in rest]})
    return Page(rows, next_cursor, limit)


# --- Endpoint registry ---------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """What the OpenAPI document says of one operation."""

    rule: str
    method: str
    name: str
    summary: str
    access: str
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    paginated: bool
    status: int
    tags: tuple[str, ...] = field(default=())
    query: tuple[tuple[str, str], ...] = field(default=())


ENDPOINTS: list[Endpoint] = []


def _serialise(value: Any, model: type[BaseModel] | None) -> Any:
    if model is None or isinstance(value, BaseModel):
        return value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    return model.model_validate(value, from_attributes=True).model_dump(mode="json")


def api_route(
    rule: str,
    method: str = "GET",
    *,
    summary: str,
    access: str,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    paginated: bool = False,
    status: int = 200,
    tags: tuple[str, ...] = (),
    query: tuple[tuple[str, str], ...] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare an API operation: the view gets the parsed `body` and returns models or a Page."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def view(**kwargs: Any) -> Any:
            if body is not None:
                kwargs["body"] = parse_body(body)
            result = fn(**kwargs)
            if isinstance(result, Response):
                return result
            if paginated:
                page: Page[Any] = result
                payload = {
                    "items": [_serialise(item, response) for item in page.items],
                    "page": {"next_cursor": page.next_cursor, "limit": page.limit},
                }
            else:
                payload = _serialise(result, response)
            if status == 204:
                return Response(status=204)
            return jsonify(payload), status

        endpoint = f"{fn.__module__.split('.')[1]}_{fn.__name__}"
        guarded = public(view) if access == PUBLIC else requires(access)(view)
        api_bp.add_url_rule(rule, endpoint=endpoint, view_func=guarded, methods=[method])
        ENDPOINTS.append(
            Endpoint(
                rule,
                method,
                endpoint,
                summary,
                access,
                body,
                response,
                paginated,
                status,
                tags,
                query,
            )
        )
        return fn

    return decorate


def parse_body(model: type[BaseModel]) -> BaseModel:
    """Validate the JSON body against `model`; errors name each offending field (422)."""
    data = request.get_json(silent=True)
    if data is None:
        raise InvalidInput("Le corps de la requête doit être un objet JSON.", field="body")
    where = out_of_range_integer(data)
    if where is not None:
        raise InvalidInput(f"Nombre hors limites (au plus {MAX_DB_INT}).", field=where)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in err["loc"]) or "body", "message": err["msg"]}
            for err in exc.errors()
        ]
        g.problem_errors = errors
        raise InvalidInput(errors[0]["message"], field=errors[0]["field"]) from exc


# --- OpenAPI -------------------------------------------------------------------------------

_PATH_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def _openapi_path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params = []
    for converter, name in _PATH_PARAM.findall(rule):
        kind = "integer" if converter == "int" else "string"
        params.append({"name": name, "in": "path", "required": True, "schema": {"type": kind}})
    return "/api/v1" + _PATH_PARAM.sub(r"{\2}", rule), params


def _schema_ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def build_openapi() -> dict[str, Any]:
    """Generate the OpenAPI 3.1 document from the registered endpoints."""
    components: dict[str, Any] = {
        "Problem": {
            "type": "object",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "field": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
                "existing": {
                    "type": "object",
                    "description": "L'enregistrement existant en cause (conflit de doublon)",
                    "properties": {"id": {"type": "integer"}, "href": {"type": "string"}},
                },
                "contacts": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Les équipes à contacter, quand l'enregistrement existant "
                    "n'est pas visible par l'appelant (conflit d'INS)",
                },
            },
        }
    }
    problem_ref = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    paths: dict[str, Any] = {}
    for ep in ENDPOINTS:
        path, params = _openapi_path(ep.rule)
        params += [
            {
                "name": n,
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": d,
            }
            for n, d in ep.query
        ]
        op: dict[str, Any] = {"operationId": ep.name, "summary": ep.summary, "tags": list(ep.tags)}
        responses: dict[str, Any] = {}
        if ep.response is not None:
            ref = _schema_ref(ep.response, components)
            schema: dict[str, Any] = ref
            if ep.paginated:
                params += [
                    {
                        "name": "cursor",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "Curseur opaque de la page",
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1},
                    },
                ]
                schema = {
                    "type": "object",
                    "required": ["items", "page"],
                    "properties": {
                        "items": {"type": "array", "items": ref},
                        "page": _schema_ref(PageMeta, components),
                    },
                }
            responses[str(ep.status)] = {
                "description": "OK",
                "content": {"application/json": {"schema": schema}},
            }
        else:
            responses[str(ep.status)] = {"description": "OK"}
        if ep.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _schema_ref(ep.body, components)}},
            }
            responses["422"] = {"description": "Donnée invalide", "content": problem_ref}
        if ep.access != PUBLIC:
            op["security"] = [{"bearerToken": []}, {"sessionCookie": []}]
            responses["401"] = {"description": "Authentification requise", "content": problem_ref}
            responses["403"] = {"description": "Accès refusé", "content": problem_ref}
        else:
            op["security"] = []
        if params:
            op["parameters"] = params
        op["responses"] = responses
        paths.setdefault(path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "PTAP API", "version": "1", "description": "API JSON de PTAP."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Jeton d'accès personnel (ptap_...)",
                },
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
    }


@api_bp.get("/openapi.json")
@public
def openapi_document() -> Any:
    """Serve the OpenAPI document generated from the endpoint registry."""
    return jsonify(build_openapi())


@api_bp.before_request
def check_scope_and_csrf() -> Any:
    """Check a token's scope, or the CSRF header of a session-authenticated write."""
    from ptap.extensions import csrf

    token = g.get("api_token")
    if token is None:
        # Session-authenticated writes need the X-CSRFToken header, like forms do.
        if request.method not in SAFE_METHODS:
            csrf.protect()
        return None
    needed = "api:read" if request.method in SAFE_METHODS else "api:write"
    if needed not in token.scope_set:
        return problem(
            403, "Accès refusé", f"Ce jeton n'a pas la portée « {needed} ».", field="scope"
        )
    return None
