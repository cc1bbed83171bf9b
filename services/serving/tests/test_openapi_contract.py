"""The model server's OpenAPI document (``GET /openapi.json``, :mod:`modelship_serving.openapi`) is the truth:
schemathesis, every check and every phase (examples, coverage, fuzzing, stateful), against two real
``python -m modelship_serving`` processes, a tabular one (penguins) and an image one (digits-fast).

The harness (seed, bounds, phases) is :mod:`devtools.contract`'s. Any server error or contract violation
(undocumented status, body or content type off the document, schema-valid data rejected, invalid data accepted)
fails the test. JSON only: the binary tensor extension's bodies are not
described (its 200 is documented as application/octet-stream; test_oip_conformance.py sends it with a standard
client).

What schemathesis found before the fixes. Against the document FastAPI derives from kserve's handlers: every
404 and 400 undocumented (422 HTTPValidationError instead), /metrics typed application/json, a ``model_version``
query parameter answered 501, a repository load of an unknown name 503, the V2 body typed as a JSON string
too. Hence this server's own document. Against it: OPTIONS on ``:predict`` a 405 with ``Allow: GET``; a negative
dimension served (``[1, 28, -58800]`` read as ``[1, 28, 28]``); ``binary_data`` switches of any type taken as
true or false; a binary response typed application/json; an empty base64 string (the document now asks for
base64). Found by hand on the way: the served model could be unloaded by one POST, ``binary_data_output`` ignored.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis

from devtools import contract
from devtools.contract import lazy_schema_node_id  # noqa: F401  (the fixture, found here by pytest)
from services.serving.tests.serving_helpers import Server, start_server, stop

pytestmark = pytest.mark.integration

#: Per operation and generation mode in the fuzzing phase; the examples and coverage phases add their own cases.
MAX_EXAMPLES = 25
#: Stateful scenarios, each at most this many calls.
STATEFUL_SCENARIOS = 15
STATEFUL_STEPS = 5

#: What JSON Schema cannot say and the handlers answer 400 (documented): a tensor's data as long as its shape
#: says, which column of a flat tabular tensor lies in which range, an image string that decodes. The penguins
#: V1 instances are described exactly, so there every schema-valid request must get a 200.
LOOSE_OPERATIONS = {
    "penguins": "^/v2/models/\\{name\\}(/versions/\\{version\\})?/infer$",
    "digits-fast": "^/v(1/models/\\{name\\}:predict|2/models/\\{name\\}(/versions/\\{version\\})?/infer)$",
}


def config(model: str) -> schemathesis.Config:
    return contract.config(max_examples=MAX_EXAMPLES, loose_paths=LOOSE_OPERATIONS[model], loose_statuses=["400"])


@pytest.fixture(scope="module", params=["penguins", "digits-fast"])
def contract_server(
    request: pytest.FixtureRequest, mlflow_registry: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    model = request.param
    uri = f"models:/{mlflow_registry.penguins_name}@champion"
    if model == "digits-fast":
        uri = f"models:/{mlflow_registry.digits_name}/{mlflow_registry.digits_version}"
    proc: subprocess.Popen | None = None
    try:
        proc, server = start_server(tmp_path_factory.mktemp("contract"), mlflow_registry.uri, model, uri)
        yield server
    finally:
        if proc is not None:
            stop(proc)


@pytest.fixture(scope="module")
def contract_schema(contract_server: Server) -> Any:
    return schemathesis.openapi.from_url(f"{contract_server.url}/openapi.json", config=config(contract_server.model))


def test_the_document_is_this_servers(contract_server: Server) -> None:
    """Not the one FastAPI derives from kserve's handlers: the served model, its routes, one error body."""
    document = httpx.get(f"{contract_server.url}/openapi.json", timeout=30).json()
    assert document["openapi"].startswith("3.1")
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert not [path for path in document["paths"] if "repository" in path or "explain" in path]
    served = {"name": [contract_server.model], "version": [document["info"]["version"]]}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                assert parameter["schema"]["enum"] == served[parameter["name"]], (method, path)
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    infer = document["paths"]["/v2/models/{name}/infer"]["post"]["responses"]
    assert sorted(infer) == ["200", "400", "404", "500", "503"]


# Every operation's cases, each answer validated; then chains of calls along the links schemathesis infers
# (list the models, then read one's metadata, ...).
test_every_operation_keeps_the_contract, test_stateful_scenarios_keep_the_contract = contract.contract_tests(
    scenarios=STATEFUL_SCENARIOS, steps=STATEFUL_STEPS
)
