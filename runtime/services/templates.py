"""App templates: find one by name, install it, load its sample data.

Templates are folders of definitions (``templates_library/<name>``, or an example
app in ``examples/<name>``). Sample data (``sample/*.json``, each a list of records of
the form named by the file, e.g. ``sample/10_materials.json``) goes through the normal
write path, so it is validated, audited and numbered like anything a user types.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from engines.schema.bundle import check_sources, read_app_folder
from runtime.auth.actors import Actor
from runtime.services.apps import install_documents
from runtime.services.errors import Invalid, NotFound
from runtime.services.records import create_record
from runtime.storage.store import Store

ROOT = Path(__file__).resolve().parents[2]
SEARCH_PATH = (ROOT / "templates_library", ROOT / "examples")
_SAMPLE_NAME = re.compile(r"^(\d+_)?(?P<form>[a-z][a-z0-9_]*)\.json$")


def available_templates() -> dict[str, Path]:
    found = {}
    for base in SEARCH_PATH:
        if base.is_dir():
            for folder in sorted(base.iterdir()):
                if (folder / "app.json").is_file():
                    found.setdefault(folder.name, folder)
    return found


def find_template(name: str) -> Path:
    path = Path(name)
    if (path / "app.json").is_file():
        return path
    templates = available_templates()
    if name not in templates:
        names = ", ".join(templates) or "none"
        raise NotFound(f"no template '{name}'; available: {names} (or give the path of an "
                       "app folder)")
    return templates[name]


def install_template(store: Store, actor: Actor, name: str, *, sample_data: bool = False) -> dict:
    folder = find_template(name)
    sources = read_app_folder(folder)
    problems = check_sources(sources, folder)
    if problems:
        raise Invalid([{"field": f"{p.file}:{p.line}:{p.column}", "message": p.message}
                       for p in problems])
    result = install_documents(store, actor, {rel: s.value for rel, s in sources.items()})
    result["records"] = load_sample_data(store, actor, result["key"], folder) if sample_data \
        else 0
    return result


def load_sample_data(store: Store, actor: Actor, app: str, folder: Path) -> int:
    count = 0
    for file in sorted((folder / "sample").glob("*.json")):
        match = _SAMPLE_NAME.match(file.name)
        if match is None:
            raise Invalid([{"field": str(file), "message": "sample files are named "
                            "[NN_]<form>.json"}])
        records = json.loads(file.read_text(encoding="utf-8"))
        for i, record in enumerate(records):
            try:
                create_record(store, actor, app, match["form"], record)
            except Invalid as error:
                raise Invalid([{**e, "field": f"{file.name}[{i}].{e['field']}"}
                               for e in error.errors]) from None
            count += 1
    return count
