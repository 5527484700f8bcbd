"""The words of the rule DSL that name things from a fixed list: events, recipient
kinds, notification channels, interval units and actions. Each table maps the word
to what it means; the grammar reads these as plain names and the checker looks them
up here, so adding an entry (a new channel, say) needs no grammar change — and the
docs test checks that docs/rules.md explains every entry.
"""

from __future__ import annotations

RECORD_EVENTS = {
    "created": "a record of the form was created",
    "updated": "a record of the form was changed (saved with different values)",
    "deleted": "a record of the form was deleted",
    "submitted": "a record of the form was submitted (for approval)",
}

FLOW_EVENTS = {
    "approved": "the record's approval flow ended with approval",
    "rejected": "an approver rejected the record",
    "returned": "an approver returned the record to its submitter",
    "withdrawn": "the submitter withdrew the record before the first approval",
    "completed": "the record's approval flow finished, whatever its outcome",
}

RECIPIENT_KINDS = {
    "user": "one user, by user name (or a user field: user applicant)",
    "role": "every user holding the role",
    "department": "every member of the department",
}

CHANNELS = {
    "inapp": "Loom's in-app inbox (the default)",
    "email": "e-mail, through the SMTP server set by LOOM_SMTP_URL",
    "webhook": "a JSON POST to the webhook configured for the recipient",
    "dingtalk": "a DingTalk group-bot message (markdown)",
    "wecom": "a WeCom (企业微信) group-bot message (markdown)",
}
DEFAULT_CHANNEL = "inapp"

# How a report's result can be delivered.
REPORT_CHANNELS = {"email": "the report as an XLSX attachment, its first rows in the body"}

UNITS = {"minute": "minutes", "minutes": "minutes", "hour": "hours", "hours": "hours",
         "day": "days", "days": "days"}

ACTIONS = {
    "set": "change fields of the record that fired the rule",
    "create": "create a record of a form",
    "update": "change the records of a form that match a condition",
    "post": "post a movement to a ledger",
    "reverse": "reverse the movements the record posted to a ledger",
    "start flow": "start an approval flow for the record",
    "notify": "send a message to users, roles or departments",
    "report": "run a report and send it",
    "call webhook": "POST JSON to a URL",
}

# Names an expression of a rule may use besides the fields (see docs/rules.md).
OLD = "old"          # the record (or balance row) before the change
TRIGGER = "trigger"  # in update ... where / set: the record that fired the rule
PAYLOAD = "payload"  # in a webhook rule: the JSON body received
