"""Every main page at phone width (360 px) and desktop: a title, a name for every
control, no sideways scrolling at phone width, keyboard focus that moves through the
page; screenshots of each saved for the user guide."""

from __future__ import annotations

import pytest

from tests.browser import browser, live_server, login, screenshot  # noqa: F401
from tests.conftest import make_user
from tests.test_approvals import BASE, _receipt, people  # noqa: F401

WIDTHS = {"phone": {"width": 360, "height": 740}, "desktop": {"width": 1280, "height": 900}}

UNNAMED = """() => [...document.querySelectorAll(
    "input:not([type=hidden]), select, textarea, button")]
  .filter((el) => !el.closest("[hidden], dialog:not([open])"))
  .filter((el) => {
    const name = el.getAttribute("aria-label") || el.labels?.[0]?.textContent || el.textContent
      || el.getAttribute("placeholder") || el.getAttribute("title") || el.value;
    return !name || !name.trim();
  }).map((el) => el.outerHTML.slice(0, 120))"""


@pytest.mark.parametrize("size", WIDTHS)
def test_main_pages_work_at_phone_and_desktop_width(client, people, live_server, browser,  # noqa: F811
                                                    store, size):
    make_user(store, "root", admin=True)
    record = _receipt(client, people["clerk"], 10)
    client.post(f"{BASE}/{record['id']}/submit", headers=people["clerk"])
    pages = {
        "home": "/",
        "list": "/apps/receipts/forms/materials",
        "form": "/apps/receipts/forms/receipts/new",
        "record": f"/apps/receipts/forms/receipts/{record['id']}",
        "inbox": "/tasks",
        "notifications": "/notifications",
        "import": "/apps/receipts/forms/materials/import",
        "dashboard": "/apps/receipts/dashboards/receiving",
        "print": f"/apps/receipts/forms/receipts/{record['id']}/print",
    }
    page = browser.new_context(locale="zh-CN", viewport=WIDTHS[size]).new_page()
    login(page, live_server, "root")
    problems = []
    for name, path in pages.items():
        response = page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        if response.status != 200:
            problems.append(f"{name}: HTTP {response.status}")
            continue
        if not page.title().strip():
            problems.append(f"{name}: no title")
        unnamed = page.evaluate(UNNAMED)
        if unnamed:
            problems.append(f"{name}: controls without a name: {unnamed}")
        width = page.evaluate("document.documentElement.scrollWidth")
        if size == "phone" and width > 361:
            problems.append(f"{name}: scrolls sideways at 360 px ({width} px)")
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement && document.activeElement.tagName")
        if focused in (None, "BODY"):
            problems.append(f"{name}: Tab does not reach a control")
        screenshot(page, f"page-{name}-{size}")
    assert problems == [], "\n".join(problems)
