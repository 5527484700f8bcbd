"""``report <key> to <recipients> by email``: each recipient gets the report as they
may read it — run with their own permissions, so nobody receives rows or fields they
could not open in the app — its first rows as a table in the message and every row in
an .xlsx attachment; a recipient who may not read it gets nothing. Queued in the
outbox like any message, sent after commit."""

from __future__ import annotations

import base64
from pathlib import Path

from jinja2.sandbox import SandboxedEnvironment

from engines.reports.export import _rows, to_xlsx
from runtime.auth.actors import load_actor
from runtime.notify.messages import recipients
from runtime.notify.outbox import queue
from runtime.services.errors import Forbidden, Invalid

SHOWN_ROWS = 20
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_BODY = SandboxedEnvironment(autoescape=True).from_string(
    (Path(__file__).parent / "report.html.j2").read_text(encoding="utf-8"))


def send_report(conn, schema, rule, action, firing, env, lang: str = "zh") -> dict:
    from runtime.services.reports import run_as  # reports read forms: imported late

    sent, skipped, refused = [], [], []
    for person in recipients(conn, schema.key, rule, action, firing.record, env):
        if not person["email"]:
            skipped.append(person["username"])
            continue
        actor = load_actor(conn, person["id"])
        try:
            result, title = run_as(conn, schema, actor, action.report, lang)
        except (Forbidden, Invalid):  # this recipient may not read what the report shows
            refused.append(person["username"])
            continue
        rows = _rows(result, lang)
        name = f"{action.report}.xlsx"
        more = f"共 {len(rows)} 行, 此处显示前 {SHOWN_ROWS} 行; 全部见附件。" \
            if len(rows) > SHOWN_ROWS else ""
        html = _BODY.render(title=title, columns=[c.title(lang) for c in result.columns],
                            rows=rows[:SHOWN_ROWS], more=more, attachment=name,
                            app=schema.key, rule=rule.name)
        text = "\n".join("\t".join("" if v is None else str(v) for v in row)
                         for row in rows[:SHOWN_ROWS])
        queue(conn, schema.key, rule.name, "email", person["email"], {
            "subject": title, "text": f"{title}\n\n{text}", "html": html,
            "attachments": [{"name": name, "type": XLSX, "data": base64.b64encode(
                to_xlsx(result, lang=lang, title=title)).decode("ascii")}]})
        sent.append(person["email"])
    return {"action": "report", "report": action.report, "email": sent,
            "no_email": skipped, "no_access": refused}
