"""Settings, each declared once as (name, default, help); docs/operations.md lists them all
and a test checks that it does."""

from __future__ import annotations

import os
from pathlib import Path

SETTINGS = (
    ("LOOM_DATA", "./loom-data", "Data folder: the SQLite database, backups and uploads."),
    ("LOOM_DATABASE_URL", None, "SQLAlchemy URL of the database; default SQLite in LOOM_DATA."),
    ("LOOM_SECRET_KEY", None, "Key signing web sessions; generated into LOOM_DATA if unset."),
    ("LOOM_TIMEZONE", None, "The plant's time zone (e.g. Asia/Shanghai) for dates such as "
     "autonumber periods; default: the server's."),
    ("LOOM_SCHEDULER", "1", "Run background jobs (approval time limits, scheduled rules, "
     "sending the outbox) in this process: "
     "1 or 0. Several processes may all run it; each job runs in one of them at a time."),
    ("LOOM_MAX_BODY_MB", "16", "Largest request body the API accepts, in MB (else 413)."),
    ("LOOM_SMTP_URL", None, "Mail server for rules' e-mail: smtp://user:password@host:port "
     "(?starttls=1, ?from=address) or smtps://...; without it e-mail stays in the outbox."),
)


def setting(name: str, environ=None) -> str | None:
    environ = os.environ if environ is None else environ
    default = next(d for n, d, _ in SETTINGS if n == name)
    return environ.get(name) or default


def data_dir(environ=None) -> Path:
    return Path(setting("LOOM_DATA", environ)).resolve()


def database_url(data: Path, environ=None) -> str:
    return setting("LOOM_DATABASE_URL", environ) or f"sqlite:///{data / 'loom.db'}"


def secret_key(data: Path, environ=None) -> str:
    """The configured key, or one generated once and kept in the data folder."""
    configured = setting("LOOM_SECRET_KEY", environ)
    if configured:
        return configured
    import secrets

    file = data / "secret_key"
    if not file.exists():
        data.mkdir(parents=True, exist_ok=True)
        file.write_text(secrets.token_hex(32))
        file.chmod(0o600)
    return file.read_text().strip()
