def test_openapi_document_is_generated_from_the_code(app, client, db):
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.")
    registered = {
        (rule.rule, method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
        if rule.endpoint != "api.openapi_document"
    }

    def flask_rule(path: str, op: dict) -> str:
        # Path parameters are integers unless the document says string (a DMP uniqueId).
        for param in op.get("parameters", []):
            if param["in"] == "path":
                kind = "int:" if param["schema"]["type"] == "integer" else ""
                path = path.replace("{" + param["name"] + "}", f"<{kind}{param['name']}>")
        return path

    documented = {
        (flask_rule(path, op), method)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
    }
    assert registered == documented
    dmp_doc = doc["paths"]["/api/v1/patients/{patient_id}/dmp/documents/{unique_id}"]["get"]
    assert {p["name"]: p["schema"]["type"] for p in dmp_doc["parameters"]} == {
        "patient_id": "integer",
        "unique_id": "string",
    }
    me = doc["paths"]["/api/v1/me"]["get"]
    assert me["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/UserOut"
    )
    assert "401" in me["responses"]
    users = doc["paths"]["/api/v1/users"]["get"]
    assert {p["name"] for p in users["parameters"]} >= {"cursor", "limit"}
    create = doc["paths"]["/api/v1/tokens"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/TokenCreate"
    )
    assert "422" in create["responses"]
    for ref in ("UserOut", "TokenCreate", "TokenCreated", "Problem", "PageMeta"):
        assert ref in doc["components"]["schemas"]


def test_openapi_document_is_valid(client, db):
    from openapi_spec_validator import validate

    validate(client.get("/api/v1/openapi.json").json)
