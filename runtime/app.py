"""The Flask application factory."""

from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from runtime import config
from runtime.storage.store import Store


def create_app(overrides: dict | None = None) -> Flask:
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    data = config.data_dir()
    app.config.from_mapping(
        LOOM_DATA=str(data),
        LOOM_DATABASE_URL=None,
        SECRET_KEY=None,
        MAX_CONTENT_LENGTH=int(config.setting("LOOM_MAX_BODY_MB")) * 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    if overrides:
        app.config.from_mapping(overrides)
    data = config.data_dir({"LOOM_DATA": app.config["LOOM_DATA"]})
    app.config["LOOM_DATABASE_URL"] = app.config["LOOM_DATABASE_URL"] or config.database_url(data)
    app.config["SECRET_KEY"] = app.config["SECRET_KEY"] or config.secret_key(data)
    app.json.sort_keys = False
    app.json.ensure_ascii = False

    store = app.config.get("LOOM_STORE") or Store(app.config["LOOM_DATABASE_URL"],
                                                  files_dir=data / "files")
    app.extensions["loom"] = store

    if not app.testing and config.setting("LOOM_SCHEDULER") == "1" \
            and not app.config.get("LOOM_STORE"):
        from runtime.scheduler import start_scheduler, wake_sender

        scheduler = start_scheduler(app.config["LOOM_DATABASE_URL"], str(store.files_dir))
        app.extensions["loom_scheduler"] = scheduler
        store.after_commit.append(wake_sender(scheduler, app.config["LOOM_DATABASE_URL"]))

    from runtime.api import api, http_error_json
    from runtime.web import web

    app.register_blueprint(api)
    app.register_blueprint(web)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if request.path.startswith("/api/"):
            return http_error_json(error)
        from runtime.web import error_page

        return error_page(error)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        # Log the traceback for operators; users see a plain message, never the trace.
        app.logger.exception("unexpected error on %s %s", request.method, request.path)
        from werkzeug.exceptions import InternalServerError

        return _http_error(InternalServerError("Something went wrong on the server; the "
                                               "error has been logged."))

    return app
