def test_example_app_installs_with_sample_data(installed, client, admin_headers):
    response = client.get("/api/v1/apps/receipts/forms/materials/records", headers=admin_headers)
    assert response.status_code == 200
    assert response.json["total"] == 6
