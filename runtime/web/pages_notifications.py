"""The notification bell's page: a user's in-app notifications (what rules sent them),
newest first; opening one marks it read and goes to its record."""

from __future__ import annotations

from flask import abort, g, redirect, render_template, request, url_for

from runtime.notify import inbox
from runtime.services.errors import ServiceError
from runtime.web import login_required, store, web


@web.get("/notifications")
@login_required
def notifications():
    unread = request.args.get("unread") == "1"
    found = inbox.list_notifications(store(), g.actor, unread=unread, limit=100)
    return render_template("notifications.html", notes=found["notifications"],
                           unread=found["unread"], only_unread=unread)


@web.post("/notifications/<int:note_id>/open")
@login_required
def open_notification(note_id):
    try:
        inbox.mark_read(store(), g.actor, note_id)
    except ServiceError as error:
        abort(error.status, error.message)
    app, form, record_id = (request.form.get(k) for k in ("app", "form", "record_id"))
    if app and form and record_id and record_id.isdigit():
        return redirect(url_for("web.show_record", app=app, form=form,
                                record_id=int(record_id)))
    return redirect(url_for("web.notifications"))


@web.post("/notifications/read-all")
@login_required
def read_all_notifications():
    inbox.mark_read(store(), g.actor)
    return redirect(url_for("web.notifications"))
