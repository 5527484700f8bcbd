"""Platform tables: apps, definition history, physical layout, users, tokens, audit.

Form data lives in tables of its own (``f_<app>_<form>``, see ``physical``); these
tables describe and surround them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


apps = Table(
    "loom_apps", metadata,
    Column("key", String(20), primary_key=True),
    Column("name", JSON, nullable=False),
    # Bumped on every definition change: processes compare it to know their cached
    # tables are stale (several server processes share one database).
    Column("revision", Integer, nullable=False, default=1),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    Column("updated_at", DateTime, nullable=False, default=utcnow),
)

definitions = Table(
    "loom_definitions", metadata,
    Column("id", Integer, primary_key=True),
    Column("app", String(20), ForeignKey("loom_apps.key"), nullable=False),
    Column("kind", String(20), nullable=False),  # "app", "form", later "flow", "rule", ...
    Column("key", String(40), nullable=False),
    Column("version", Integer, nullable=False),
    Column("body", JSON, nullable=True),  # None: the definition was deleted in this version
    Column("created_at", DateTime, nullable=False, default=utcnow),
    Column("created_by", Integer, nullable=True),
    Column("comment", Text, nullable=True),
    UniqueConstraint("app", "kind", "key", "version", name="uq_loom_definitions_version"),
)

# Physical layout: which table and column hold each form, subtable and field.
# Columns of removed fields stay here with active = False (their data is kept).
physical_tables = Table(
    "loom_tables", metadata,
    Column("id", Integer, primary_key=True),
    Column("app", String(20), nullable=False),
    Column("form", String(40), nullable=False),
    Column("subtable", String(40), nullable=False, default=""),
    Column("table_name", String(63), nullable=False, unique=True),
    Column("active", Boolean, nullable=False, default=True),
    UniqueConstraint("app", "form", "subtable", name="uq_loom_tables_scope"),
)

physical_columns = Table(
    "loom_columns", metadata,
    Column("id", Integer, primary_key=True),
    Column("app", String(20), nullable=False),
    Column("form", String(40), nullable=False),
    Column("subtable", String(40), nullable=False, default=""),
    Column("field", String(40), nullable=False),
    Column("column_name", String(63), nullable=False),
    Column("storage", String(80), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    Index("ix_loom_columns_scope", "app", "form"),
)

departments = Table(
    "loom_departments", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("parent_id", Integer, ForeignKey("loom_departments.id"), nullable=True),
    Column("head_user_id", Integer, nullable=True),
)

users = Table(
    "loom_users", metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(80), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("display_name", String(100), nullable=False),
    Column("email", String(255), nullable=True),
    Column("department_id", Integer, ForeignKey("loom_departments.id"), nullable=True),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime, nullable=False, default=utcnow),
)

user_roles = Table(
    "loom_user_roles", metadata,
    Column("user_id", Integer, ForeignKey("loom_users.id"), primary_key=True),
    Column("app", String(20), primary_key=True),
    Column("role", String(40), primary_key=True),
)

tokens = Table(
    "loom_tokens", metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("loom_users.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    Column("last_used_at", DateTime, nullable=True),
)

audit = Table(
    "loom_audit", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime, nullable=False, default=utcnow),
    Column("user_id", Integer, nullable=True),
    Column("app", String(20), nullable=False),
    Column("form", String(40), nullable=False),
    Column("record_id", Integer, nullable=False),
    Column("action", String(20), nullable=False),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Index("ix_loom_audit_record", "app", "form", "record_id"),
)


# Uploaded files. An attachment field stores the ids; ``form``/``record_id`` say which
# record a file belongs to once attached (downloads are allowed to its readers).
files = Table(
    "loom_files", metadata,
    Column("id", Integer, primary_key=True),
    Column("app", String(20), nullable=False),
    Column("name", String(255), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("path", String(255), nullable=False),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    Column("created_by", Integer, nullable=True),
    Column("form", String(40), nullable=True),
    Column("record_id", Integer, nullable=True),
    Index("ix_loom_files_record", "app", "form", "record_id"),
)

# Approval flows: one instance per submission round of a record (the state is the
# flow engine's JSON), and one row per task so inboxes are indexed queries.
flow_instances = Table(
    "loom_flow_instances", metadata,
    Column("id", Integer, primary_key=True),
    Column("app", String(20), nullable=False),
    Column("form", String(40), nullable=False),
    Column("record_id", Integer, nullable=False),
    Column("flow", String(40), nullable=False),
    Column("flow_version", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("state", JSON, nullable=False),
    # Bumped on every action: two approvers acting at once cannot both win.
    Column("version", Integer, nullable=False, default=1),
    Column("submitter", Integer, nullable=True),
    Column("started_at", DateTime, nullable=False),
    Column("ended_at", DateTime, nullable=True),
    Index("ix_loom_flow_instances_record", "app", "form", "record_id"),
)

tasks = Table(
    "loom_tasks", metadata,
    Column("id", Integer, primary_key=True),
    Column("instance_id", Integer, ForeignKey("loom_flow_instances.id"), nullable=False),
    Column("task_no", Integer, nullable=False),
    Column("app", String(20), nullable=False),
    Column("form", String(40), nullable=False),
    Column("record_id", Integer, nullable=False),
    Column("node_id", String(80), nullable=False),
    Column("assignee", Integer, nullable=True),
    Column("kind", String(20), nullable=False),  # approver, handler, cc
    Column("status", String(20), nullable=False),  # open, done, cancelled, cc
    Column("outcome", String(40), nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("due_at", DateTime, nullable=True),
    Column("handled_at", DateTime, nullable=True),
    UniqueConstraint("instance_id", "task_no", name="uq_loom_tasks_no"),
    Index("ix_loom_tasks_assignee", "assignee", "status"),
)

# Autonumber counters, one row per (field, period). Taken in the record's own
# transaction, so a rolled-back create gives its number back: no gaps.
sequences = Table(
    "loom_sequences", metadata,
    Column("app", String(20), primary_key=True),
    Column("form", String(40), primary_key=True),
    Column("field", String(40), primary_key=True),
    Column("period", String(20), primary_key=True),
    Column("value", Integer, nullable=False),
)

# Saved list views: a name for a list's query string (filters, search, sort), a user's
# own or shared with everyone who may read the form.
saved_views = Table(
    "loom_saved_views", metadata,
    Column("id", Integer, primary_key=True),
    Column("app", String(20), nullable=False),
    Column("form", String(40), nullable=False),
    Column("owner", Integer, ForeignKey("loom_users.id"), nullable=False),
    Column("name", String(60), nullable=False),
    Column("query", Text, nullable=False),
    Column("shared", Boolean, nullable=False, default=False),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    UniqueConstraint("app", "form", "owner", "name", name="uq_loom_saved_views"),
)

# Spreadsheet imports and exports run in the background (runtime/services/sheet_jobs):
# progress and checkpoints here, so a restarted server continues where one stopped.
sheet_jobs = Table(
    "loom_sheet_jobs", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(10), nullable=False),            # import | export
    Column("app", String(20), nullable=False),
    Column("form", String(40), nullable=False),
    Column("user_id", Integer, ForeignKey("loom_users.id"), nullable=False),
    Column("status", String(10), nullable=False),          # queued running done failed
    Column("phase", String(10), nullable=False),           # check write export
    Column("params", JSON, nullable=False),
    Column("file_name", String(200), nullable=False),
    Column("total", Integer, nullable=True),
    Column("done", Integer, nullable=False, default=0),     # rows through the phase
    Column("report", JSON, nullable=True),
    Column("holder", String(200), nullable=True),
    Column("lease_until", DateTime, nullable=True),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    Column("finished_at", DateTime, nullable=True),
    Index("ix_loom_sheet_jobs_status", "status", "lease_until"),
)


# ---- rules: run log, edge flags, scheduled firings, outbox, inbox ---------------------

# One row per rule run (or skip, or failure), written in the run's transaction when it
# succeeds; a failed run is logged in a transaction of its own (its own rolled back).
rule_runs = Table(
    "loom_rule_runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("app", String(20), nullable=False),
    Column("rule", String(200), nullable=False),
    Column("trigger", String(200), nullable=False),
    Column("subject", String(200), nullable=True),  # "receipts/12", "stock/item=3"
    Column("outcome", String(20), nullable=False),  # ran, else, skipped, failed, dry_run
    Column("detail", Text, nullable=True),
    Column("duration_ms", Integer, nullable=False, default=0),
    Column("at", DateTime, nullable=False, default=utcnow),
    Index("ix_loom_rule_runs_app", "app", "id"),
)

# Edge-triggered rules: a row per (rule, condition, subject) whose condition is TRUE.
rule_flags = Table(
    "loom_rule_flags", metadata,
    Column("app", String(20), primary_key=True),
    Column("rule", String(200), primary_key=True),
    Column("condition", String(64), primary_key=True),  # sha256 of the condition text
    Column("subject", String(200), primary_key=True),
)

# A scheduled firing taken by one process: the primary key makes a second taker fail.
rule_firings = Table(
    "loom_rule_firings", metadata,
    Column("app", String(20), primary_key=True),
    Column("rule", String(200), primary_key=True),
    Column("slot", DateTime, primary_key=True),
    Column("holder", String(200), nullable=False),
)

# Messages and webhook calls queued in the transaction that decided them, sent after
# commit by the sender (runtime.notify.outbox): a rollback drops them, a crash keeps them.
outbox = Table(
    "loom_outbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("app", String(20), nullable=False),
    Column("rule", String(200), nullable=True),
    Column("channel", String(20), nullable=False),  # email, webhook, dingtalk, wecom, call
    Column("target", Text, nullable=False),  # addresses or URL
    Column("message", JSON, nullable=False),
    Column("status", String(20), nullable=False, default="pending"),  # sent, failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_at", DateTime, nullable=False),
    Column("claimed_until", DateTime, nullable=True),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    Column("sent_at", DateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Index("ix_loom_outbox_due", "status", "next_at"),
)

deliveries = Table(
    "loom_deliveries", metadata,
    Column("id", Integer, primary_key=True),
    Column("outbox_id", Integer, ForeignKey("loom_outbox.id"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", DateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_loom_deliveries_outbox", "outbox_id"),
)

notifications = Table(
    "loom_notifications", metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("loom_users.id"), nullable=False),
    Column("app", String(20), nullable=False),
    Column("rule", String(200), nullable=True),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=True),
    Column("form", String(40), nullable=True),
    Column("record_id", Integer, nullable=True),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    Column("read_at", DateTime, nullable=True),
    Index("ix_loom_notifications_user", "user_id", "read_at"),
)


def create_platform_tables(connection) -> None:
    metadata.create_all(connection, checkfirst=True)
