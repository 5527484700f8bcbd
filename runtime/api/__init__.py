"""REST API under /api/v1: JSON in, JSON out, errors as ``{"errors": [...]}``.

Routes are thin: read the request, call one service, shape the answer. Permissions
are checked by the services, never here.
"""

from __future__ import annotations

import json
import secrets

from flask import Blueprint, current_app, g, jsonify, request, session
from werkzeug.exceptions import HTTPException

from runtime.auth.actors import Actor, load_actor
from runtime.auth.users import user_for_token
from runtime.services.errors import Invalid, ServiceError

api = Blueprint("api", __name__, url_prefix="/api/v1")


class Unauthorized(ServiceError):
    status = 401


def store():
    return current_app.extensions["loom"]


def _session_actor() -> Actor | None:
    """The logged-in web user, for the pages' own scripts. A write must carry the
    session's CSRF token in X-CSRF-Token, so another site cannot post as the user."""
    user_id = session.get("user_id")
    if user_id is None:
        return None
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        sent = request.headers.get("X-CSRF-Token", "")
        if not sent or not secrets.compare_digest(sent, session.get("csrf", "")):
            raise Unauthorized("missing or wrong X-CSRF-Token for a write from a web page; "
                               "reload the page")
    with store().read() as conn:
        return load_actor(conn, user_id)


def actor() -> Actor:
    """The caller, from ``Authorization: Bearer <token>`` or the web session; 401
    without either."""
    if "actor" not in g:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if not header and "user_id" in session:
            found = _session_actor()
            if found is None:
                raise Unauthorized("your session has ended; log in again")
            g.actor = found
            return found
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("missing API token: send 'Authorization: Bearer <token>'; get "
                               "one from POST /api/v1/auth/token or `loom token create`")
        with store().read() as conn:
            user_id = user_for_token(conn, token.strip())
            found = load_actor(conn, user_id) if user_id is not None else None
        if found is None:
            raise Unauthorized("invalid or revoked API token")
        g.actor = found
    return g.actor


def body():
    """The JSON request body; a clear 422 when it is missing or malformed."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise Invalid([{"field": None, "message": "the request needs a JSON body"}])
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise Invalid([{"field": None, "message": "the body is not UTF-8 text"}]) from None
    except json.JSONDecodeError as error:
        raise Invalid([{"field": None, "message": f"malformed JSON at line {error.lineno} "
                        f"column {error.colno}: {error.msg}"}]) from None


def int_arg(name: str, default: int) -> int:
    text = request.args.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise Invalid([{"field": name, "message": f"{name} must be a whole number"}]) from None


@api.errorhandler(ServiceError)
def _service_error(error: ServiceError):
    response = jsonify(error.as_json())
    response.status_code = error.status
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="loom"'
    return response


def http_error_json(error: HTTPException):
    message = {
        404: "no such endpoint; the API is described at /api/v1/openapi.json",
        405: f"{request.method} is not allowed here",
        413: "the request body is too large; send at most "
             f"{current_app.config['MAX_CONTENT_LENGTH'] // (1024 * 1024)} MB",
    }.get(error.code, error.description)
    response = jsonify({"errors": [{"field": None, "message": message}]})
    response.status_code = error.code or 500
    return response


from runtime.api import (  # noqa: E402,F401
    apps_routes,
    auth_routes,
    files_routes,
    openapi,
    records_routes,
    reports_routes,
    rules_routes,
)
