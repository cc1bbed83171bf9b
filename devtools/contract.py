"""The one schemathesis harness of the OpenAPI contract tests (the gateway's and the model server's documents).

Bounded and reproducible: a fixed seed, derandomized generation, no example database, few examples per operation;
every check and every phase (examples, coverage, fuzzing, stateful). A test module builds its schema with
:func:`config`, parametrizes ``case.call_and_validate()`` over it and runs :func:`run_stateful`; it imports
:func:`lazy_schema_node_id` so that pytest finds the fixture there.
"""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
import schemathesis

SEED = 20260109


def config(*, max_examples: int, loose_paths: str, loose_statuses: list[str]) -> schemathesis.Config:
    """The run's configuration. ``loose_paths`` (a regular expression on the path template): the operations whose
    schema-valid requests may also be answered ``loose_statuses`` (input the schema cannot rule out but the handler
    rightly refuses, documented)."""
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": max_examples, "deterministic": True, "database": "none"},
            "request-timeout": 30,
            "operations": [
                {
                    "include-path-regex": loose_paths,
                    "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", *loose_statuses]}},
                }
            ],
        }
    )


def run_stateful(schema: Any, *, scenarios: int, steps: int) -> None:
    """Chains of calls along the links schemathesis infers from the document; any violation raises."""
    schema.as_state_machine().run(
        settings=hypothesis.settings(
            max_examples=scenarios,
            stateful_step_count=steps,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[hypothesis.Phase.generate],
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )


@pytest.fixture(autouse=True)
def lazy_schema_node_id(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32's ``from_fixture`` reads (and renames, for its reports) ``item._nodeid``, which pytest 9.2
    no longer has; give it one. Only its subtest names are affected, not what runs or what fails."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid
