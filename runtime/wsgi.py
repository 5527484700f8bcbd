"""WSGI entry point for gunicorn: ``gunicorn runtime.wsgi:app`` (settings from LOOM_*)."""

from runtime.app import create_app

app = create_app()
