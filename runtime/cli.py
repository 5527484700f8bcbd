"""The ``loom`` command."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import sys
from pathlib import Path

import click

from runtime import config


def _store(data: Path):
    """The store of the data folder, closed when the command ends."""
    from runtime.storage.store import Store

    store = Store(config.database_url(data), files_dir=data / "files")
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(store.dispose)
    return store


def _fail(message: str):
    raise click.ClickException(message)


def _service_call(fn, *args, **kwargs):
    """Run a service; show its error as a message, not a traceback."""
    from runtime.services.errors import Invalid, ServiceError

    try:
        return fn(*args, **kwargs)
    except Invalid as error:
        lines = "\n".join(f"  {e.get('field') or '-'}: {e['message']}" for e in error.errors)
        _fail(f"refused:\n{lines}")
    except ServiceError as error:
        _fail(error.message)


data_option = click.option(
    "--data", "data", type=click.Path(file_okay=False, path_type=Path),
    default=lambda: config.data_dir(), show_default="$LOOM_DATA or ./loom-data",
    help="Data folder (SQLite database, backups).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Loom: a no-code application builder."""


@main.command()
@data_option
@click.option("--port", default=5000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--template", default="receipts", show_default=True,
              help="Template installed with sample data on first start.")
def demo(data: Path, port: int, host: str, template: str):
    """Create the data folder, install the demo app with sample data, and serve it."""
    from runtime.auth.actors import SYSTEM
    from runtime.auth.users import add_user, find_user, grant_role
    from runtime.services.templates import find_template, install_template

    data = data.resolve()
    store = _store(data)
    folder = _service_call(find_template, template)
    app_key = json.loads((folder / "app.json").read_text(encoding="utf-8"))["key"]
    with store.read() as conn:
        installed = app_key in store.app_keys(conn)
    if not installed:
        click.echo(f"Installing '{template}' with sample data into {data} ...")
        result = _service_call(install_template, store, SYSTEM, template, sample_data=True)
        click.echo(f"  {result['records']} sample records created.")
    password_file = data / "admin-password.txt"
    with store.write() as conn:
        if find_user(conn, "admin") is None:
            password = secrets.token_urlsafe(9)
            user_id = add_user(conn, "admin", password, display_name="Administrator",
                               is_admin=True)
            for role in ("supervisor",):
                grant_role(conn, user_id, app_key, role)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
    password = password_file.read_text().strip() if password_file.exists() else "(unchanged)"
    click.echo(f"\nLoom is running at http://{host}:{port}/")
    click.echo(f"  log in as: admin / {password}")
    click.echo(f"  API:       http://{host}:{port}/api/v1/openapi.json")
    click.echo(f"  data:      {data}\n")
    store.dispose()
    _run_dev_server(data, host, port)


def _run_dev_server(data: Path, host: str, port: int):
    from runtime.app import create_app

    app = create_app({"LOOM_DATA": str(data)})
    app.run(host=host, port=port, debug=False, use_reloader=False)


@main.command()
@data_option
@click.option("--port", default=5000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--workers", default=0, type=int,
              help="Run gunicorn with N worker processes (production); 0 = development server.")
def serve(data: Path, port: int, host: str, workers: int):
    """Serve Loom over HTTP."""
    data = data.resolve()
    _store(data).dispose()  # create the database before workers race to
    if workers <= 0:
        click.echo(f"Loom at http://{host}:{port}/ (development server; use --workers N "
                   "for production)")
        _run_dev_server(data, host, port)
        return
    os.environ["LOOM_DATA"] = str(data)
    argv = ["gunicorn", "--workers", str(workers), "--bind", f"{host}:{port}",
            "--access-logfile", "-", "runtime.wsgi:app"]
    os.execvp(sys.executable, [sys.executable, "-m", *argv])


@main.command()
@click.argument("template")
@data_option
@click.option("--sample-data", is_flag=True, help="Also load the template's sample data.")
def install(template: str, data: Path, sample_data: bool):
    """Install an app template (a name from templates_library/ or examples/, or a folder)."""
    from runtime.auth.actors import SYSTEM
    from runtime.services.templates import install_template

    store = _store(data.resolve())
    result = _service_call(install_template, store, SYSTEM, template, sample_data=sample_data)
    click.echo(f"Installed app '{result['key']}' ({len(result['changes'])} schema changes, "
               f"{result['records']} sample records).")


@main.command()
@click.argument("path", type=click.Path(exists=False, path_type=Path))
def check(path: Path):
    """Validate an app folder or bundle; print file:line:col: message for each problem."""
    from engines.schema.bundle import check_sources, read_app

    sources, problems = read_app(path)
    problems = problems or check_sources(sources, path if path.is_dir() else None)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        click.echo(f"{len(problems)} problem(s) found.", err=True)
        sys.exit(1)
    click.echo(f"{path}: OK ({len(sources)} definition files)")


@main.group("app")
def app_group():
    """Export and import app bundles."""


@app_group.command("export")
@click.argument("app")
@data_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Bundle file to write (default: <app>.loom.json).")
def app_export(app: str, data: Path, output: Path | None):
    """Write an app's definitions as one bundle file."""
    from runtime.auth.actors import SYSTEM
    from runtime.services.apps import export_bundle

    bundle = _service_call(export_bundle, _store(data.resolve()), SYSTEM, app)
    output = output or Path(f"{app}.loom.json")
    output.write_text(json.dumps(bundle, ensure_ascii=False, indent=2), encoding="utf-8")
    click.echo(f"Exported '{app}' to {output} ({len(bundle['documents'])} definitions).")


@app_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@data_option
def app_import(file: Path, data: Path):
    """Install or update an app from a bundle file (checked first, then migrated)."""
    from engines.schema.bundle import check_sources, read_bundle
    from runtime.auth.actors import SYSTEM
    from runtime.services.apps import install_documents

    sources, problems = read_bundle(file)
    problems = problems or check_sources(sources)
    if problems:
        for problem in problems:
            click.echo(str(problem))
        _fail(f"{len(problems)} problem(s); nothing imported")
    documents = {rel: s.value for rel, s in sources.items()}
    result = _service_call(install_documents, _store(data.resolve()), SYSTEM, documents,
                           replace=True, comment=f"imported from {file.name}")
    click.echo(f"Imported '{result['key']}': {len(result['changes'])} schema change(s).")
    for change in result["changes"]:
        if change["action"] != "add_column":
            click.echo(f"  {change['message']}")


@main.group("user")
def user_group():
    """Manage users."""


@user_group.command("add")
@click.argument("username")
@data_option
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", "display_name", help="Display name.")
@click.option("--email")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
@click.option("--role", "roles", multiple=True, metavar="APP:ROLE",
              help="Grant a role in an app; repeatable.")
@click.option("--department", help="Name of the user's department (see `loom department add`).")
def user_add(username, data, password, display_name, email, admin, roles, department):
    """Add a user."""
    from runtime.auth.users import add_user, find_department, grant_role

    for role in roles:
        if ":" not in role:
            _fail(f"--role {role!r}: write it as APP:ROLE, e.g. receipts:clerk")
    store = _store(data.resolve())

    def create():
        with store.write() as conn:
            department_id = None
            if department:
                department_id = find_department(conn, department)
                if department_id is None:
                    _fail(f"no department '{department}'; add it with "
                          f"`loom department add {department}`")
            user_id = add_user(conn, username, password, display_name=display_name,
                               email=email, is_admin=admin, department_id=department_id)
            for role in roles:
                app, _, key = role.partition(":")
                schema = store.app(conn, app)
                if schema is None:
                    _fail(f"no app '{app}'")
                known = {r["key"] for r in schema.definition.get("roles", [])}
                if key not in known:
                    _fail(f"app '{app}' has no role '{key}'; roles: {', '.join(sorted(known))}")
                grant_role(conn, user_id, app, key)
            return user_id

    user_id = _service_call(create)
    click.echo(f"User '{username}' added (id {user_id}).")


@main.group("department")
def department_group():
    """Manage departments (they scope "department" row permissions)."""


@department_group.command("add")
@click.argument("name")
@data_option
@click.option("--parent", help="Name of the department this one belongs to.")
def department_add(name, data, parent):
    """Add a department, optionally below another one."""
    from runtime.auth.users import add_department, find_department

    store = _store(data.resolve())
    with store.write() as conn:
        if find_department(conn, name) is not None:
            _fail(f"department '{name}' already exists")
        parent_id = None
        if parent:
            parent_id = find_department(conn, parent)
            if parent_id is None:
                _fail(f"no department '{parent}'")
        department_id = add_department(conn, name, parent_id)
    click.echo(f"Department '{name}' added (id {department_id}).")


@main.group("token")
def token_group():
    """Manage API tokens."""


@token_group.command("create")
@click.argument("username")
@data_option
@click.option("--name", default="cli", show_default=True, help="What the token is for.")
def token_create(username, data, name):
    """Create an API token for a user and print it (it is shown only once)."""
    from runtime.auth.users import create_token, find_user

    store = _store(data.resolve())
    with store.write() as conn:
        user = find_user(conn, username)
        if user is None:
            _fail(f"no user '{username}'; add one with `loom user add {username}`")
        token = create_token(conn, user["id"], name)
    click.echo(token)


@main.command("import-excel")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--form", "target", required=True, metavar="APP.FORM",
              help="Where the rows go, e.g. receipts.materials.")
@click.option("--key", help="Update records whose KEY field matches instead of adding them.")
@click.option("--dry-run", is_flag=True, help="Check every row; keep nothing.")
@data_option
def import_excel(file: Path, target: str, key, dry_run, data):
    """Import the rows of an .xlsx or .csv file into a form (all or nothing)."""
    from runtime.auth.actors import SYSTEM
    from runtime.services.spreadsheets import import_rows

    app, _, form = target.partition(".")
    if not form:
        _fail("--form is APP.FORM, e.g. receipts.materials")
    store = _store(data.resolve())
    with click.progressbar(length=1, label=f"Importing {file.name}") as bar:
        def progress(done, total):
            bar.length = total
            bar.update(done - bar.pos)

        report = _service_call(import_rows, store, SYSTEM, app, form, file.read_bytes(),
                               file.name, key=key, dry_run=dry_run, progress=progress)
    for error in report["errors"][:50]:
        column = f", column '{error['column']}'" if error["column"] else ""
        click.echo(f"  row {error['row']}{column}: {error['message']}")
    if report["unmatched"]:
        click.echo(f"  ignored columns (no field by that name): {', '.join(report['unmatched'])}")
    if report["errors"]:
        _fail(f"{len(report['errors'])} problem(s) in {report['rows']} rows; nothing imported")
    verb = "would create" if dry_run else "created"
    click.echo(f"{report['rows']} rows: {verb} {report['created']}, updated {report['updated']}.")


@main.command("backup")
@data_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Backup file (default: <data>/backups/loom-<time>.zip).")
def backup_command(data: Path, output: Path | None):
    """Write a consistent backup of the database (definitions, records, users, audit)."""
    from runtime.storage.backup import backup

    data = data.resolve()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    output = output or data / "backups" / f"loom-{stamp}.zip"
    manifest = backup(_store(data), output)
    rows = sum(manifest["tables"].values())
    click.echo(f"Backup written to {output} ({len(manifest['tables'])} tables, {rows} rows).")


@main.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@data_option
def restore_command(file: Path, data: Path):
    """Restore a backup into an empty data folder (or empty database)."""
    from runtime.storage.backup import RestoreRefused, restore

    try:
        manifest = restore(_store(data.resolve()), file)
    except RestoreRefused as error:
        _fail(str(error))
    click.echo(f"Restored {sum(manifest['tables'].values())} rows into {data}.")


if __name__ == "__main__":
    main()
