"""Expression functions the form engine adds: USER(), COUNT_RECORDS(), LOOKUP().

They are registered like any built-in; what they read comes from the ``env`` the
caller passes (``env["user"]``: the acting user's id; ``env["records"]``: an object
with ``count(form, pairs)`` and ``lookup(form, field, value, result)`` that the
runtime binds to the current transaction). Without that object they answer #N/A.
"""

from __future__ import annotations

from engines.expr import register_function
from engines.expr.errors import ErrorValue


def _records(env):
    return (env or {}).get("records")


def user(env):
    return (env or {}).get("user")


def count_records(env, form, *pairs):
    records = _records(env)
    if records is None:
        return ErrorValue("#N/A", "records cannot be counted here")
    if len(pairs) % 2:
        return ErrorValue("#VALUE!", "give field and value in pairs")
    return records.count(str(form), [(str(pairs[i]), pairs[i + 1])
                                     for i in range(0, len(pairs), 2)])


def lookup(env, form, field, value, result):
    records = _records(env)
    if records is None:
        return ErrorValue("#N/A", "records cannot be looked up here")
    return records.lookup(str(form), str(field), value, str(result))


register_function("USER", user, signature="USER()", needs_env=True, returns="any",
                  summary="the id of the user acting now (for user fields and defaults)",
                  example="USER() → 7")
register_function("COUNT_RECORDS", count_records,
                  signature="COUNT_RECORDS(form, field, value, ...)", max_args=None, repeat=2,
                  params=("text", "text", "scalar"), needs_env=True, returns="number",
                  summary="how many records of a form have the given field values",
                  example='COUNT_RECORDS("materials", "code", code) → 1')
register_function("LOOKUP", lookup, signature="LOOKUP(form, field, value, result)",
                  params=("text", "text", "scalar", "text"), needs_env=True, returns="any",
                  summary="a field of the one record of a form whose field has the value",
                  example='LOOKUP("materials", "code", "M-001", "name") → "主控芯片"')
