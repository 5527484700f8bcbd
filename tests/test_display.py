"""Values as people read them, and the list page showing them."""

from engines.forms.definition import parse_field
from engines.forms.display import display_text
from tests.conftest import make_user
from tests.test_web import _login


def test_display_text_per_type():
    unit = parse_field({"key": "u", "type": "select", "options": [
        {"value": "pcs", "label": {"zh": "个", "en": "pcs"}}, "kg"]})
    assert display_text(unit, "pcs", "zh") == "个" and display_text(unit, "kg") == "kg"
    assert display_text(parse_field({"key": "p", "type": "percent"}), 0.155) == "15.5%"
    assert display_text(parse_field({"key": "m", "type": "money"}), 1234.5) == "1,234.50"
    assert display_text(parse_field({"key": "c", "type": "checkbox"}), True, "zh") == "是"
    assert display_text(parse_field({"key": "c", "type": "checkbox"}), False, "en") == "No"
    rel = parse_field({"key": "s", "type": "relation", "target": "x"})
    assert display_text(rel, 3, titles={3: "S-001 华强"}) == "S-001 华强"
    assert display_text(parse_field({"key": "d", "type": "datetime"}),
                        "2026-11-21T08:30:00") == "2026-11-21 08:30:00"
    assert display_text(parse_field({"key": "a", "type": "attachment"}),
                        [{"id": 1, "name": "a.pdf"}]) == "a.pdf"
    assert display_text(parse_field({"key": "t", "type": "text"}), None) == ""


def test_list_page_shows_labels_and_titles(installed, client, store):
    make_user(store, "viewer", roles=[("receipts", "viewer")])
    _login(client, "viewer")
    page = client.get("/apps/receipts/forms/materials").get_data(as_text=True)
    assert "S-001 深圳华强电子" in page  # the default supplier by its title, not its id
    assert "<td>个</td>" in page and "<td>18.50</td>" in page  # option label, money
