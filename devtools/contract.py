"""The one schemathesis harness of the OpenAPI contract tests (the gateway's and the model server's documents).

Bounded and reproducible: a fixed seed, derandomized generation, no example database, few examples per operation;
every check and every phase (examples, coverage, fuzzing, stateful). A test module builds its schema with
:func:`config`, provides it as a fixture and takes its two tests from :func:`contract_tests`; it imports
:func:`lazy_schema_node_id` so that pytest finds the fixture there.
"""

from __future__ import annotations

from collections.abc import Callable
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


def contract_tests(*, scenarios: int, steps: int) -> tuple[Callable[..., None], Callable[..., None]]:
    """A contract module's two tests, on the schema of its fixture ``contract_schema``: every operation
    (schemathesis' cases, each answer validated by every check), and :func:`run_stateful` with ``scenarios`` and
    ``steps``. Assign them to module names starting with ``test_`` so that pytest collects them there."""

    @schemathesis.pytest.from_fixture("contract_schema").parametrize()
    def every_operation(case: schemathesis.Case) -> None:
        case.call_and_validate()

    def stateful(contract_schema: Any) -> None:
        run_stateful(contract_schema, scenarios=scenarios, steps=steps)

    return every_operation, stateful


@pytest.fixture(autouse=True)
def lazy_schema_node_id(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32's ``from_fixture`` reads (and renames, for its reports) ``item._nodeid``, which pytest 9.2
    no longer has; give it one. Only its subtest names are affected, not what runs or what fails."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid
