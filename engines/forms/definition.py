"""Form definitions as small read-only objects.

The JSON document stays the source of truth (it is what is stored, versioned and
exported); ``Form`` and ``Field`` only give code a typed way to walk it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Keys every record carries; a field may not take one of these names.
SYSTEM_KEYS = ("id", "version", "created_at", "created_by", "updated_at", "updated_by",
               "approval")


@dataclass(frozen=True)
class Field:
    key: str
    type: str
    label: object = None
    required: bool = False
    indexed: bool = False
    options: tuple = ()
    target: str | None = None
    fields: tuple[Field, ...] = ()
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_subtable(self) -> bool:
        return self.type == "subtable"

    def option_values(self) -> list[str]:
        return [o if isinstance(o, str) else o["value"] for o in self.options]

    def get(self, name: str, default=None):
        return self.raw.get(name, default)


@dataclass(frozen=True)
class Form:
    key: str
    label: object
    fields: tuple[Field, ...]
    title: tuple[str, ...] = ()
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    def field(self, key: str) -> Field | None:
        for f in self.fields:
            if f.key == key:
                return f
        return None

    @property
    def scalar_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if not f.is_subtable)

    @property
    def subtables(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.is_subtable)


def parse_field(doc: dict) -> Field:
    return Field(
        key=doc["key"],
        type=doc["type"],
        label=doc.get("label", doc["key"]),
        required=bool(doc.get("required", False)),
        # Numbers are looked up by people and scanners: always indexed.
        indexed=bool(doc.get("indexed", False)) or doc["type"] == "autonumber",
        options=tuple(doc.get("options", ())),
        target=doc.get("target"),
        fields=tuple(parse_field(f) for f in doc.get("fields", ())),
        raw=doc,
    )


def parse_form(doc: dict) -> Form:
    """Build a ``Form`` from a definition that already passed schema validation."""
    return Form(
        key=doc["key"],
        label=doc.get("label", doc["key"]),
        fields=tuple(parse_field(f) for f in doc.get("fields", ())),
        title=tuple(doc.get("title", ())),
        raw=doc,
    )


def label_text(label, lang: str = "zh") -> str:
    """The label in ``lang``, falling back to any language it has."""
    if isinstance(label, dict):
        return label.get(lang) or label.get(lang.split("-")[0]) or next(iter(label.values()), "")
    return "" if label is None else str(label)
