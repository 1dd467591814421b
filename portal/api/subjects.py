"""`POST /api/v1/subjects`: a system pushes the people and data it holds, as a `portal-subjects/1` document.

The same import as `flask --app wsgi import-subjects` (services/subjects.py): all or nothing, the same
report, the same refusals naming their place in the document. On top of it: a bearer token per system
(services/api_tokens.py), which confines the push to the data the register attributes to that system; a
body limit; and rate limits per client and per system. No cookie is read or set, so no CSRF token: the
bearer token is the proof of origin. Answers are JSON, refusals included.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from functools import cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from portal import state
from portal.config import ConfigError
from portal.database import request_session
from portal.extensions import csrf
from portal.services import api_tokens, audit
from portal.services.limits import TooManyAttempts
from portal.services.subjects import FORMAT, SCHEMA_PATH, ImportRejected, import_subjects, read_document

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "schemas" / "portal-api-1.openapi.json"
MAX_BODY_SETTING = "API_MAX_BODY"  # PORTAL_API_MAX_BODY, in bytes
DEFAULT_MAX_BODY = 10 * 1024 * 1024  # 10 MB: about 60,000 data items of a typical size per push

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)


@blueprint.record_once
def _check_body_limit(setup: BlueprintSetupState) -> None:
    """Read PORTAL_API_MAX_BODY once, at start-up: a wrong value stops the app instead of every push."""
    app = setup.app
    raw = app.config.get(MAX_BODY_SETTING) or DEFAULT_MAX_BODY
    try:
        limit = int(raw)
    except (TypeError, ValueError):
        limit = 0
    if limit <= 0:
        raise ConfigError(f"PORTAL_API_MAX_BODY must be a number of bytes (for example {DEFAULT_MAX_BODY}), "
                          f"not {raw!r}.")
    app.config[MAX_BODY_SETTING] = limit


@blueprint.url_value_preprocessor
def _body_limit(_endpoint: str | None, _values: dict[str, Any] | None) -> None:
    """The API's own body limit instead of the pages' 1 MB. Set here because this runs before every
    `before_request`: the app's check for control characters reads `request.form`, which opens the body's
    stream with the limit in force at that moment."""
    request.max_content_length = current_app.config[MAX_BODY_SETTING]


def _refusal(status: int, error: str, message: str, *, problems: list[dict[str, str]] | None = None,
             headers: dict[str, str] | None = None) -> tuple[Response, int, dict[str, str]]:
    body: dict[str, Any] = {"error": error, "message": message}
    if problems is not None:
        body["problems"] = problems
    return jsonify(body), status, headers or {}


def _too_many(refused: TooManyAttempts) -> tuple[Response, int, dict[str, str]]:
    wait = max((refused.retry_at - dt.datetime.now(dt.UTC).replace(tzinfo=None)).total_seconds(), 1)
    return _refusal(429, "too_many_requests", "Too many requests; try again later.",
                    headers={"Retry-After": str(math.ceil(wait))})


def _bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


@blueprint.post("/subjects")
def push_subjects() -> tuple[Response, int, dict[str, str]] | Response:
    limits = state.limits()
    try:  # before the token is looked at: guessing tokens costs an allowance too
        limits.check(api_client=request.remote_addr or "unknown")
    except TooManyAttempts as refused:
        return _too_many(refused)
    ctx = state.context(audit.SYSTEM)
    session = request_session()
    token = _bearer_token()
    system = api_tokens.system_of(session, ctx.register, token) if token else None
    if system is None:
        return _refusal(401, "unauthorized", "A valid bearer token of one of the company's systems is required.",
                        headers={"WWW-Authenticate": 'Bearer realm="portal"'
                                 + (', error="invalid_token"' if token else "")})
    try:
        limits.check(api_system=system)
    except TooManyAttempts as refused:
        return _too_many(refused)
    if not request.is_json:
        return _refusal(415, "unsupported_media_type", "Send the document as application/json.")
    raw = request.get_data(cache=False)  # over the limit: RequestEntityTooLarge, answered below
    try:
        document = read_document(raw)
    except ImportRejected as rejected:
        return _refusal(400, "unreadable", "The body is not a JSON document.", problems=_problems(rejected))
    try:
        report = import_subjects(document, session=session, register=ctx.register, today=ctx.today,
                                 secret=ctx.secret, system=system, strict=request.args.get("strict") in ("1", "true"))
    except ImportRejected as rejected:
        return _refusal(422, "rejected", f"{len(rejected.problems)} problem(s) found; nothing was imported.",
                        problems=_problems(rejected))
    answer = report.as_json()
    ctx.audit(session, "subjects_pushed", target=f"system:{system}",
              details={key: answer[key] for key in ("people", "relations", "data_items", "consents")}
              | {"not_imported": sum(entry["count"] for entry in answer["not_imported"])})
    session.commit()
    return jsonify(format=FORMAT, system=system, report=answer)


def _problems(rejected: ImportRejected) -> list[dict[str, str]]:
    return [{"path": problem.path, "message": problem.message} for problem in rejected.problems]


@blueprint.errorhandler(RequestEntityTooLarge)
def too_large(_error: RequestEntityTooLarge) -> tuple[Response, int, dict[str, str]]:
    limit = current_app.config[MAX_BODY_SETTING]
    return _refusal(413, "too_large", f"The body is larger than {limit} bytes; push the people in several parts.")


@blueprint.errorhandler(HTTPException)
def http_error(error: HTTPException) -> tuple[Response, int, dict[str, str]]:
    return _refusal(error.code or 500, error.name.lower().replace(" ", "_"), error.description or error.name)


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of the API, its request body the import's own JSON Schema file."""
    document: dict[str, Any] = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    document["components"]["schemas"]["PortalSubjects"] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return document


@blueprint.get("/openapi.json")
def openapi() -> Response:
    response = jsonify(openapi_document())
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
