"""How a stored value reads to a person: options by label, percentages with %, yes/no,
files by name, linked records by their title (given by the caller)."""

from __future__ import annotations

from engines.forms.definition import Field, label_text

YES_NO = {"zh": ("是", "否"), "en": ("Yes", "No")}


def _option_label(field: Field, value: str, lang: str) -> str:
    for option in field.options:
        if isinstance(option, dict) and option["value"] == value:
            return label_text(option.get("label"), lang) or value
    return value


def display_text(field: Field, value, lang: str = "zh", titles: dict | None = None) -> str:
    """``value`` as the API returns it (JSON) -> text for lists, prints and exports."""
    if value is None or value == [] or value == "":
        return ""
    kind = field.get("result", "number") if field.type == "formula" else field.type
    if kind == "select":
        return _option_label(field, value, lang)
    if kind == "multiselect":
        return ", ".join(_option_label(field, v, lang) for v in value)
    if kind == "checkbox":
        return YES_NO.get(lang, YES_NO["en"])[0 if value else 1]
    if kind == "percent":
        return f"{value * 100:g}%"
    if kind == "money":
        return f"{value:,.{field.get('precision', 2)}f}"
    if kind in ("relation", "user", "department"):
        return (titles or {}).get(value, f"#{value}")
    if kind == "attachment":
        return ", ".join(f["name"] for f in value)
    if kind == "location":
        return value.get("address") or f"{value.get('lat')}, {value.get('lng')}"
    if kind == "signature":
        return "✓"
    if kind == "datetime":
        return str(value).replace("T", " ")
    return str(value)
