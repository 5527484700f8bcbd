"""Autonumbers: patterns, periods, gap-free and unique under concurrent creates."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from engines.forms.autonumber import PatternError, parse_pattern
from runtime.auth.actors import SYSTEM
from runtime.services import clock
from runtime.services.apps import create_app, put_form
from runtime.services.errors import Invalid
from runtime.services.records import create_record, update_record

FORM = {"key": "orders", "label": "订单", "fields": [
    {"key": "number", "type": "autonumber", "pattern": "SO-{yyyyMM}-{seq:3}"},
    {"key": "qty", "type": "number", "min": 0}]}


@pytest.fixture
def orders(store):
    create_app(store, SYSTEM, "shop", "车间")
    put_form(store, SYSTEM, "shop", "orders", FORM)
    return store


def test_pattern_parts_and_periods():
    day = dt.date(2026, 11, 21)
    assert parse_pattern("RK-{yyyyMMdd}-{seq:4}").format(day, 7) == "RK-20261121-0007"
    assert parse_pattern("PO{yy}{MM}{seq:3}").format(day, 12) == "PO2611012"
    assert parse_pattern("X{seq}").format(day, 12345) == "X12345"
    assert parse_pattern("RK-{yyyyMMdd}-{seq:4}").period(day) == "20261121"
    assert parse_pattern("{yyyy}/{seq}").period(day) == "2026"
    assert parse_pattern("N{seq:5}").period(day) == ""
    for bad, message in [("X", "exactly one {seq}"), ("{seq}{seq}", "exactly one"),
                         ("{week}{seq}", "unknown part {week}"), ("{seq:99}", "1 to 12")]:
        with pytest.raises(PatternError, match=message):
            parse_pattern(bad)


def test_numbers_follow_the_month_and_restart(orders, monkeypatch):
    monkeypatch.setattr(clock, "today", lambda: dt.date(2026, 11, 30))
    first = create_record(orders, SYSTEM, "shop", "orders", {"qty": 1})
    second = create_record(orders, SYSTEM, "shop", "orders", {"qty": 2})
    monkeypatch.setattr(clock, "today", lambda: dt.date(2026, 12, 1))
    third = create_record(orders, SYSTEM, "shop", "orders", {"qty": 3})
    assert [first["number"], second["number"], third["number"]] == [
        "SO-202611-001", "SO-202611-002", "SO-202612-001"]


def test_a_failed_create_gives_its_number_back(orders, monkeypatch):
    monkeypatch.setattr(clock, "today", lambda: dt.date(2026, 11, 21))
    create_record(orders, SYSTEM, "shop", "orders", {"qty": 1})
    with pytest.raises(Invalid):
        create_record(orders, SYSTEM, "shop", "orders", {"qty": -1})
    assert create_record(orders, SYSTEM, "shop", "orders", {"qty": 2})["number"] == \
        "SO-202611-002"


def test_numbers_cannot_be_typed_or_changed(orders):
    with pytest.raises(Invalid, match="numbered automatically"):
        create_record(orders, SYSTEM, "shop", "orders", {"number": "SO-1", "qty": 1})
    record = create_record(orders, SYSTEM, "shop", "orders", {"qty": 1})
    same = update_record(orders, SYSTEM, "shop", "orders", record["id"],
                         {"number": record["number"], "qty": 2})
    assert same["number"] == record["number"]
    with pytest.raises(Invalid, match="numbered automatically"):
        update_record(orders, SYSTEM, "shop", "orders", record["id"], {"number": "SO-9"})


def test_date_field_sets_the_period(installed, client, admin_headers):
    response = client.post("/api/v1/apps/receipts/forms/receipts/records", headers=admin_headers,
                           json={"supplier": {"code": "S-001"}, "received_on": "2026-11-02",
                                 "lines": [{"material": {"code": "M-001"}, "qty": 1}]})
    assert response.status_code == 201, response.json
    assert response.json["receipt_no"] == "RK-20261102-0002"  # the sample data has 0001


def test_bad_pattern_is_refused_at_save(store, client, admin_headers):
    client.post("/api/v1/apps", headers=admin_headers, json={"key": "shop", "name": "x"})
    form = {**FORM, "fields": [{"key": "number", "type": "autonumber", "pattern": "SO-{n}",
                                "date_field": "qty"}, FORM["fields"][1]]}
    response = client.put("/api/v1/apps/shop/forms/orders", headers=admin_headers, json=form)
    assert response.status_code == 422
    messages = {e["field"]: e["message"] for e in response.json["errors"]}
    assert "exactly one {seq}" in messages["/fields/0/pattern"]
    assert "not a date field" in messages["/fields/0/date_field"]


def test_eight_concurrent_writers_get_unique_gap_free_numbers(orders, monkeypatch):
    monkeypatch.setattr(clock, "today", lambda: dt.date(2026, 11, 21))
    numbers, barrier = [], threading.Barrier(8)

    def write():
        barrier.wait()
        for _ in range(5):
            numbers.append(create_record(orders, SYSTEM, "shop", "orders", {"qty": 1})["number"])

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(numbers) == [f"SO-202611-{n:03d}" for n in range(1, 41)]
