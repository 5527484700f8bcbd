"""The metadata contract: JSON Schemas of every definition kind.

``validate(kind, document)`` returns the schema problems of one definition as
``(json_pointer, message)`` pairs, worded for the person who wrote it.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from engines.schema.source import Problem, Source, parse_json, pointer_join

__all__ = ["KINDS", "Problem", "Source", "parse_json", "pointer_join", "schema", "validate"]

_HERE = Path(__file__).parent
KINDS = tuple(sorted(p.name.removesuffix(".schema.json") for p in _HERE.glob("*.schema.json")))


@functools.cache
def schema(kind: str) -> dict:
    return json.loads((_HERE / f"{kind}.schema.json").read_text(encoding="utf-8"))


@functools.cache
def _validator(kind: str) -> Draft202012Validator:
    return Draft202012Validator(schema(kind))


def validate(kind: str, document) -> list[tuple[str, str]]:
    """Schema problems of ``document`` as (JSON pointer, message), deepest first."""
    problems = []
    for error in _validator(kind).iter_errors(document):
        problems.extend(_explain(error))
    # One message per place is enough; prefer the most specific.
    seen, unique = set(), []
    for pointer, message in sorted(problems, key=lambda p: (-p[0].count("/"), p[0])):
        if (pointer, message) not in seen:
            seen.add((pointer, message))
            unique.append((pointer, message))
    return unique


def _pointer(path) -> str:
    pointer = ""
    for part in path:
        pointer = pointer_join(pointer, part)
    return pointer


def _describe(path) -> str:
    if not path:
        return "the document"
    last = path[-1]
    if isinstance(last, int):
        parent = f"'{path[-2]}'" if len(path) > 1 else "the list"
        return f"item {last + 1} of {parent}"
    return f"'{last}'"


def _explain(error: ValidationError) -> list[tuple[str, str]]:
    pointer = _pointer(error.absolute_path)
    where = _describe(error.absolute_path)
    if error.validator in ("oneOf", "anyOf") and error.context:
        # Report the alternative that got furthest instead of "is not valid under any".
        best = max(error.context, key=lambda e: len(e.absolute_path))
        if len(best.absolute_path) > len(error.absolute_path):
            return _explain(best)
        if error.validator_value and all("required" in alt for alt in error.validator_value
                                         if isinstance(alt, dict)):
            options = " or ".join(repr(r) for alt in error.validator_value
                                  for r in alt["required"])
            return [(pointer, f"{where} needs {options}")]
        return [(pointer, f"{where} has the wrong shape: {best.message}")]
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        return [(pointer_join(pointer, name),
                 f"unknown property {name!r}; allowed here: {allowed}") for name in extra]
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [(pointer, f"{where} is missing required property {missing!r}")]
    if error.validator == "enum":
        allowed = ", ".join(repr(v) for v in error.validator_value)
        return [(pointer, f"{error.instance!r} is not allowed for {where}; use one of {allowed}")]
    if error.validator == "pattern":
        hint = error.schema.get("description") or f"must match {error.validator_value}"
        return [(pointer, f"{error.instance!r} is not a valid key: {hint}")]
    if error.validator == "type":
        return [(pointer, f"{where} must be {error.validator_value}, not {error.instance!r}")]
    return [(pointer, f"{where}: {error.message}")]
