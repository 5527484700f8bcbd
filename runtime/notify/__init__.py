"""Notifications and webhook calls of rules: queued in the outbox inside the firing
transaction (``messages``), delivered after commit by the sender (``outbox``) through
a channel (``channels``: e-mail over SMTP, generic JSON webhooks, DingTalk and WeCom
group robots), every attempt recorded in the delivery log; the in-app inbox
(``inbox``) is written directly, in the same transaction.
"""
