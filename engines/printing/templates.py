"""Checking and rendering print templates in Jinja2's immutable sandbox."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from jinja2 import TemplateSyntaxError
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engines.printing.codes import barcode_svg, qrcode_svg

PAPERS = ("A4", "A5", "label")  # label: 100 x 60 mm, one record per label
HEADER = re.compile(r"\A\{#\s*loom:\s*(?P<json>\{.*?\})\s*#\}", re.S)
KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class PrintError(ValueError):
    """A print template that cannot be used: ``line`` (1-based, or None) and what to fix."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message, self.line = message, line


@dataclass
class PrintTemplate:
    key: str
    form: str
    label: object
    source: str
    paper: str = "A4"
    compiled: object = field(default=None, repr=False)


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(barcode=barcode_svg, qrcode=qrcode_svg)
    return env


ENVIRONMENT = _environment()  # stateless: holds filters and functions, no templates


def parse_print(key: str, source: str) -> PrintTemplate:
    """Check the header (form, label) and compile the template; ``PrintError`` says what
    is wrong and on which line."""
    if not KEY.match(key):
        raise PrintError(f"'{key}' is not a print template name: use lower case letters, "
                         "digits and _ (at most 40), e.g. prints/receipt_slip.html.j2", 1)
    found = HEADER.match(source)
    if found is None:
        raise PrintError('the first line must say what the template prints: {# loom: '
                         '{"form": "<form key>", "label": "..."} #}', 1)
    try:
        meta = json.loads(found.group("json"))
    except ValueError as error:
        raise PrintError(f"the header is not JSON: {error}", 1) from None
    if not isinstance(meta, dict) or not isinstance(meta.get("form"), str):
        raise PrintError('the header names the form: {"form": "<form key>"}', 1)
    paper = meta.get("paper", "A4")
    if paper not in PAPERS:
        raise PrintError(f"paper '{paper}' is not one of {', '.join(PAPERS)} (label: "
                         "100 x 60 mm)", 1)
    try:
        compiled = ENVIRONMENT.from_string(source)
    except TemplateSyntaxError as error:
        raise PrintError(f"template syntax: {error.message}", error.lineno) from None
    return PrintTemplate(key, meta["form"], meta.get("label", key), source, paper, compiled)


def render_print(template: PrintTemplate, context: dict) -> str:
    """The template's HTML for ``context``; a template reaching outside what it was given
    (attributes of Python objects, callables) gets a ``PrintError`` instead of a 500."""
    compiled = template.compiled or ENVIRONMENT.from_string(template.source)
    try:
        return compiled.render(**context)
    except SecurityError as error:
        raise PrintError(f"print template '{template.key}' tried something the sandbox does "
                         f"not allow ({error}); templates may only use the record's values, "
                         "filters, barcode() and qrcode()") from None
    except (UndefinedError, TypeError, ValueError) as error:
        raise PrintError(f"print template '{template.key}' failed: {error}",
                         _line(error)) from None


def _line(error) -> int | None:
    tb = error.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
