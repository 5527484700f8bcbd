"""Arbitrary input never makes the API answer 500: only 2xx or a clear 4xx."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20) | st.sampled_from(["2026-11-21", "15%", "1,234.5", "M-001", "是"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=3),
    max_leaves=8)

FIELDS = ["receipt_no", "supplier", "received_on", "receiver", "status", "note", "lines",
          "version", "id", "unknown"]
LINE_FIELDS = ["material", "qty", "price", "lot", "id"]

records = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6) | st.dictionaries(
    st.just("lines"), st.lists(st.dictionaries(st.sampled_from(LINE_FIELDS), json_values,
                                               max_size=4), max_size=3), min_size=1)

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=records | json_values)
def test_create_and_patch_never_500(installed, client, admin_headers, body):
    url = "/api/v1/apps/receipts/forms/receipts/records"
    created = client.post(url, headers=admin_headers, json=body)
    assert created.status_code in (201, 422), created.json
    patched = client.patch(f"{url}/1", headers=admin_headers, json=body)
    assert patched.status_code in (200, 409, 422), patched.json
    if created.status_code == 422 or patched.status_code == 422:
        for error in (created.json or patched.json)["errors"]:
            assert error["message"]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(params=st.dictionaries(st.sampled_from(
    ["code", "code__contains", "safety_stock__gt", "default_supplier.code", "sort", "limit",
     "offset", "x__in", "active__empty", "created_at__gte", "lines.qty__lt", "id__in"]),
    st.text(max_size=12), max_size=4))
def test_list_queries_never_500(installed, client, admin_headers, params):
    for form in ("materials", "receipts"):
        response = client.get(f"/api/v1/apps/receipts/forms/{form}/records",
                              headers=admin_headers, query_string=params)
        assert response.status_code in (200, 422), (params, response.json)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(params=st.dictionaries(st.sampled_from(["supplier", "from", "lang", "nope", "element"]),
                              st.text(max_size=12) | json_values.map(str), max_size=3),
       element=st.dictionaries(st.sampled_from(["month", "supplier", "material", "x"]),
                               json_values, max_size=2))
def test_report_queries_never_500(installed, client, admin_headers, params, element):
    base = "/api/v1/apps/receipts"
    for path in ("reports/receipts_by_month", "reports/received_amount",
                 "reports/stock_by_material/export.csv", "dashboards/receiving"):
        response = client.get(f"{base}/{path}", headers=admin_headers, query_string=params)
        assert response.status_code in (200, 422), (path, params, response.data[:300])
    drill = client.get(f"{base}/reports/receipts_by_month/drill", headers=admin_headers,
                       query_string={**params, "element": json.dumps(element)})
    assert drill.status_code in (200, 422), (params, element, drill.json)
