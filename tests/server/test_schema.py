"""schemathesis: requests generated from the API's own OpenAPI schema, valid and invalid, sent
to the app with a tiny model. No answer may be a server error; every answer, errors included,
must match the schema. Not checked: that every schema-valid request is accepted, as some rules
cannot be said in JSON Schema (a note ends after it starts; an upload is a MIDI file; at most
`max_input_notes` notes), so a schema-valid request may rightly get 4xx."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from segue.server import Settings, create_app

# The operations do not depend on the model, so they are listed from an app that never loads one.
OPERATIONS = sorted(result.ok().label for result in schemathesis.openapi.from_dict(
    create_app(Settings(warm_up=False)).openapi()).get_all_operations())


@pytest.fixture(scope="module")
def schema(tiny_model):
    app = create_app(Settings(), tiny_model)
    with TestClient(app):  # runs the lifespan: the model is loaded before the first request
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize("label", OPERATIONS)
def test_the_api_keeps_to_its_schema(label, schema):
    method, path = label.split(" ", 1)

    @settings(max_examples=60, suppress_health_check=list(HealthCheck))
    @given(schema[path][method].as_strategy())
    def check(case):
        case.call_and_validate(excluded_checks=[positive_data_acceptance])

    check()
