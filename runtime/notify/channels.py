"""Delivering one outbox entry: e-mail over SMTP, or an HTTP POST of JSON.

Formats (docs/rules.md, "Outbox and delivery"):

* ``email``: a multipart message (plain text and the sandboxed HTML body) through the
  SMTP server of ``LOOM_SMTP_URL`` — ``smtp://user:password@host:port?from=addr``, or
  ``smtps://`` for TLS from the start, or ``?starttls=1``.
* ``webhook`` (a notification) and ``call`` (``call webhook``): JSON with
  ``X-Loom-Delivery`` (the entry's id) and, when the app has a secret for it,
  ``X-Loom-Signature: sha256=<hex HMAC-SHA256 of the body>``.
* ``dingtalk``: a DingTalk group robot's markdown message; with a secret, the URL
  gets ``timestamp`` and ``sign`` as DingTalk's "加签" asks.
* ``wecom``: a WeCom (企业微信) group robot's markdown message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import smtplib
import time
import urllib.error
import urllib.parse
import urllib.request
from email.message import EmailMessage

TIMEOUT = 10


class DeliveryFailed(Exception):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message, self.status = message, status


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: what a receiver recomputes with the shared secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def dingtalk_url(url: str, secret: str, now_ms: int | None = None) -> str:
    timestamp = str(now_ms if now_ms is not None else int(time.time() * 1000))
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode(),
                      hashlib.sha256).digest()
    signature = urllib.parse.quote_plus(base64.b64encode(digest).decode("ascii"))
    return f"{url}{'&' if '?' in url else '?'}timestamp={timestamp}&sign={signature}"


def robot_text(message: dict) -> str:
    text = f"#### {message['title']}"
    if message.get("body"):
        text += f"\n\n{message['body']}"
    return text


def body_of(channel: str, entry: dict) -> dict:
    """The JSON a channel sends for an entry."""
    message = entry["message"]
    if channel == "call":
        return message["payload"]
    if channel == "dingtalk":
        return {"msgtype": "markdown",
                "markdown": {"title": message["title"], "text": robot_text(message)}}
    if channel == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": robot_text(message)}}
    return {"app": entry["app"], "rule": entry["rule"], **message}


def deliver(entry: dict, app_definition: dict, *, smtp_url: str | None = None) -> int | None:
    """Send one entry; the HTTP status (None for e-mail). Raises ``DeliveryFailed``."""
    channel = entry["channel"]
    if channel == "email":
        send_email(entry, smtp_url or os.environ.get("LOOM_SMTP_URL"))
        return None
    secret = None
    url = entry["target"]
    if channel == "call":
        secret = (app_definition.get("webhooks") or {}).get("secret")
    else:
        secret = ((app_definition.get("notify") or {}).get(channel) or {}).get("secret")
    if channel == "dingtalk" and secret:
        url, secret = dingtalk_url(url, secret), None
    return post_json(url, body_of(channel, entry), entry["id"], secret,
                     robot=channel in ("dingtalk", "wecom"))


def post_json(url: str, data, delivery: int, secret: str | None, robot: bool = False) -> int:
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8",
               "X-Loom-Delivery": str(delivery), "User-Agent": "Loom"}
    if secret:
        headers["X-Loom-Signature"] = sign(secret, body)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            status, answer = response.status, response.read(65536)
    except urllib.error.HTTPError as error:
        raise DeliveryFailed(f"HTTP {error.code} from {url}", error.code) from None
    except (urllib.error.URLError, OSError) as error:
        raise DeliveryFailed(f"could not reach {url}: {getattr(error, 'reason', error)}") \
            from None
    if robot:  # robots answer 200 with {"errcode": n, "errmsg": ...} when they refuse
        try:
            reply = json.loads(answer or b"{}")
        except ValueError:
            reply = {}
        if isinstance(reply, dict) and reply.get("errcode", 0) != 0:
            raise DeliveryFailed(f"the robot refused: {reply.get('errmsg')}", status)
    return status


def send_email(entry: dict, smtp_url: str | None) -> None:
    if not smtp_url:
        raise DeliveryFailed("no mail server: set LOOM_SMTP_URL, e.g. "
                             "smtp://user:password@mail.example.com:587?starttls=1")
    url = urllib.parse.urlsplit(smtp_url)
    options = dict(urllib.parse.parse_qsl(url.query))
    if url.scheme not in ("smtp", "smtps") or not url.hostname:
        raise DeliveryFailed(f"LOOM_SMTP_URL must be smtp://host:port or smtps://host:port, "
                             f"not {url.scheme}://...")
    sender = options.get("from") or (f"{url.username}@{url.hostname}" if url.username
                                     else f"loom@{url.hostname}")
    message = EmailMessage()
    message["Subject"] = entry["message"]["subject"]
    message["From"] = sender
    message["To"] = entry["target"]
    message["Message-ID"] = f"<loom-{entry['id']}@{url.hostname}>"
    message.set_content(entry["message"]["text"])
    message.add_alternative(entry["message"]["html"], subtype="html")
    for attached in entry["message"].get("attachments", []):  # a report's .xlsx
        maintype, _, subtype = attached["type"].partition("/")
        message.add_attachment(base64.b64decode(attached["data"]), maintype=maintype,
                               subtype=subtype, filename=attached["name"])
    kind = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
    try:
        with kind(url.hostname, url.port or (465 if url.scheme == "smtps" else 25),
                  timeout=TIMEOUT) as smtp:
            if options.get("starttls") in ("1", "true"):
                smtp.starttls()
            if url.username:
                smtp.login(urllib.parse.unquote(url.username),
                           urllib.parse.unquote(url.password or ""))
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryFailed(f"the mail server refused or could not be reached: {error}") \
            from None
