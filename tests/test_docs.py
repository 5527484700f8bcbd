"""The docs cover what the code offers (in the manner of Datasette's test_docs)."""

from __future__ import annotations

import re
from pathlib import Path

import click

from engines.forms.fieldtypes import FIELD_TYPES
from runtime.app import create_app
from runtime.cli import main
from runtime.config import SETTINGS
from runtime.services.query import OPERATORS

ROOT = Path(__file__).resolve().parents[1]


def doc(name: str) -> str:
    return (ROOT / "docs" / name).read_text(encoding="utf-8")


def test_every_field_type_is_documented():
    text = doc("forms.md")
    for name in FIELD_TYPES:
        assert f"| `{name}` |" in text, name
    assert "| `subtable` |" in text


def test_every_setting_is_documented():
    text = doc("operations.md")
    for name, _default, _help in SETTINGS:
        assert f"`{name}`" in text, name


def _commands(group, prefix=""):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}"


def test_every_cli_command_is_documented():
    text = doc("cli.md")
    for command in _commands(main):
        assert f"`loom {command}" in text, command


def test_every_api_route_is_documented(tmp_path):
    app = create_app({"LOOM_DATA": str(tmp_path), "SECRET_KEY": "x", "TESTING": True})
    text = doc("api.md")
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule[len("/api/v1"):])
        path = path.replace("{record_id}", "{id}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert f"`{method} {path}`" in text, f"{method} {path}"
    app.extensions["loom"].dispose()


def test_every_filter_operator_is_documented():
    text = doc("api.md")
    for op in OPERATORS:
        assert f"`{op}`" in text, op


def test_readme_quick_start_and_ci_agree():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "loom demo" in readme
    test_command = "pip install -e '.[test]' && python -m pytest"
    assert test_command in readme
    assert test_command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).is_file(), link
