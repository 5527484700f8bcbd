from __future__ import annotations

from flask import jsonify

from runtime.api import Unauthorized, api, body, store
from runtime.auth.users import authenticate, create_token
from runtime.services.errors import Invalid


@api.post("/auth/token")
def issue_token():
    data = body()
    if not isinstance(data, dict) or not isinstance(data.get("username"), str) \
            or not isinstance(data.get("password"), str):
        raise Invalid([{"field": "username", "message": 'send {"username": ..., "password": ...}'}])
    with store().write() as conn:
        user_id = authenticate(conn, data["username"], data["password"])
        if user_id is None:
            raise Unauthorized("wrong username or password")
        token = create_token(conn, user_id, str(data.get("name") or "api"))
    return jsonify({"token": token}), 201
