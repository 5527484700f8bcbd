"""Errors services raise; the API and web pages turn each into one status code."""

from __future__ import annotations


class ServiceError(Exception):
    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def as_json(self) -> dict:
        return {"errors": [{"field": None, "message": self.message}]}


class NotFound(ServiceError):
    status = 404


class Forbidden(ServiceError):
    status = 403


class Conflict(ServiceError):
    status = 409


class Invalid(ServiceError):
    """Input that does not fit; ``errors`` name each field path and how to fix it."""

    status = 422

    def __init__(self, errors: list[dict]):
        super().__init__("; ".join(f"{e.get('field') or 'record'}: {e['message']}"
                                   for e in errors))
        self.errors = errors

    def as_json(self) -> dict:
        return {"errors": [{"field": e.get("field"), "message": e["message"],
                            **{k: v for k, v in e.items() if k not in ("field", "message")}}
                           for e in self.errors]}
