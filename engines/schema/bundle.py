"""Reading an app from a folder or from a one-file bundle, with source positions.

Both give ``{relative path: Source}``; a bundle's documents keep positions in the
bundle file, so ``loom check app.loom.json`` points at the right line too.
"""

from __future__ import annotations

from pathlib import Path

from engines.schema.check import check_app, check_rule_files, kind_of
from engines.schema.source import Problem, Source, parse_json, pointer_join

BUNDLE_FORMAT = 1
DEFINITION_GLOBS = ("app.json", "forms/*.json", "flows/*.json", "ledgers/*.json",
                    "reports/*.json", "dashboards/*.json", "rules/*.rule",
                    "prints/*.html.j2")


def read_app_folder(folder: Path) -> dict[str, Source]:
    sources = {}
    for pattern in DEFINITION_GLOBS:
        for file in sorted(folder.glob(pattern)):
            rel = file.relative_to(folder).as_posix()
            text = file.read_text(encoding="utf-8")
            # A rule file is DSL text: its problems carry their own line and column.
            sources[rel] = Source(str(file), text) if kind_of(rel) in ("rule", "print") \
                else parse_json(text, str(file))
    return sources


def read_bundle(file: Path) -> tuple[dict[str, Source], list[Problem]]:
    whole = parse_json(file.read_text(encoding="utf-8"), str(file))
    if whole.problems:
        return {}, whole.problems
    data = whole.value
    if not isinstance(data, dict) or data.get("loom_bundle") != BUNDLE_FORMAT \
            or not isinstance(data.get("documents"), dict):
        return {}, [whole.problem("", "not a Loom app bundle: expected an object with "
                                  f'"loom_bundle": {BUNDLE_FORMAT} and "documents"; create '
                                  "one with `loom app export`")]
    sources = {}
    for rel, doc in data["documents"].items():
        prefix = pointer_join("/documents", rel)
        positions = {p[len(prefix):]: pos for p, pos in whole.positions.items()
                     if p == prefix or p.startswith(prefix + "/")}
        sources[rel] = Source(str(file), doc, positions)
    return sources, list(whole.problems)


def read_app(path: Path) -> tuple[dict[str, Source], list[Problem]]:
    """An app folder or bundle file -> its documents and any syntax problems."""
    if path.is_dir():
        sources = read_app_folder(path)
        return sources, [p for s in sources.values() for p in s.problems]
    if path.is_file():
        return read_bundle(path)
    return {}, [Problem(str(path), 1, 1, "no such file or folder")]


def check_sources(sources: dict[str, Source], folder: Path | None = None) -> list[Problem]:
    """Every problem of an app, located: syntax first, then schema and references."""
    problems = [p for s in sources.values() for p in s.problems]
    if problems:
        return problems
    documents = {rel: s.value for rel, s in sources.items()}
    located = []
    for rel, pointer, message in check_app(documents, rules=False):
        source = sources.get(rel)
        if source is None:
            file = str(folder / rel) if folder else rel
            located.append(Problem(file, 1, 1, message))
        else:
            located.append(source.problem(pointer, message))
    if not located:
        for rel, problem in check_rule_files(documents):
            source = sources.get(rel)
            if rel in sources and source.positions:  # inside a bundle: name the document
                file = f"{source.file}#{rel}"
            else:
                file = source.file if source else rel
            located.append(Problem(file, problem.line, problem.column, problem.message))
    return sorted(located, key=lambda p: (p.file, p.line, p.column))
