"""Coalesced tabular calls (:mod:`modelship_scoring.coalesce`) against a real KServe model server (the stand-in):
concurrent requests for one model share calls, and each caller still gets the answer to its own rows, its own
error, and its request's trace."""

from __future__ import annotations

import asyncio
import re
import urllib.request
from typing import Any

import aiohttp
import numpy as np
import pytest

from modelship_scoring.coalesce import CoalescingClient
from modelship_scoring.discovery import Endpoint
from modelship_scoring.errors import UpstreamError
from modelship_scoring.model_servers import V2Client, model_server_session
from services.gateway.tests.standin_scoring import TABULAR_CLASSES, score_tabular

pytestmark = pytest.mark.integration  # the stand-in model server


def rows(n: int, seed: int) -> np.ndarray:
    """``n`` valid, different encoded penguins rows (bill, depth, flipper, mass, one-hot island and sex)."""
    rng = np.random.default_rng(seed)
    numeric = np.column_stack(
        [rng.uniform(35, 55, n), rng.uniform(14, 21, n), rng.uniform(175, 230, n), rng.uniform(3000, 6000, n)]
    )
    island = np.eye(3)[rng.integers(0, 3, n)]
    sex = np.eye(2)[rng.integers(0, 2, n)]
    return np.hstack([numeric, island, sex]).astype(np.float32)


def predict_count(url: str, model: str) -> float:
    """The model server's own count of predict calls for ``model`` (KServe's ``request_predict_seconds``; 0 before
    the first)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    pattern = rf'^request_predict_seconds_count\{{[^}}]*model_name="{re.escape(model)}"[^}}]*\}} (\S+)$'
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def _with_client(url: str, run: Any, **options: Any) -> Any:
    async with model_server_session(aiohttp.TCPConnector(limit=100), aiohttp.ClientTimeout(total=30)) as http:
        client = CoalescingClient(V2Client(http), **options)
        return await run(client, Endpoint(name="penguins", url=url)), client


def test_concurrent_requests_share_calls_and_each_gets_its_own_rows(standin_url: str) -> None:
    matrices = [rows(1 + i % 3, seed=i) for i in range(40)]  # 1-3 rows each, all different

    async def run(client: CoalescingClient, endpoint: Endpoint) -> list[Any]:
        calls = [client.infer_matrix(endpoint, m, f"req-{i}") for i, m in enumerate(matrices)]
        return await asyncio.gather(*calls)

    before = predict_count(standin_url, "penguins")
    answers, client = asyncio.run(_with_client(standin_url, run, max_rows=256))
    served = predict_count(standin_url, "penguins") - before

    for matrix, scores in zip(matrices, answers, strict=True):
        expected = score_tabular(matrix)
        assert scores.class_ids == expected.argmax(axis=1).tolist()
        assert scores.class_names == [TABULAR_CLASSES[i] for i in expected.argmax(axis=1)]
        np.testing.assert_allclose(scores.probabilities, expected, rtol=1e-6)
        assert scores.version == "3"
    # The first request went alone; the 39 that arrived during it went together.
    assert (client.calls, client.requests) == (2, 40)
    assert served == 2, f"the model server counted {served} predict calls for 40 requests"


def test_max_rows_bounds_a_call_and_a_larger_request_goes_alone(standin_url: str) -> None:
    matrices = [rows(1, seed=0), *(rows(4, seed=i) for i in range(1, 7)), rows(9, seed=7)]

    async def run(client: CoalescingClient, endpoint: Endpoint) -> list[Any]:
        return await asyncio.gather(*(client.infer_matrix(endpoint, m, f"r{i}") for i, m in enumerate(matrices)))

    answers, client = asyncio.run(_with_client(standin_url, run, max_rows=8))
    for matrix, scores in zip(matrices, answers, strict=True):
        assert scores.class_ids == score_tabular(matrix).argmax(axis=1).tolist()
    # 1 alone, then the six 4-row requests two by two (8 rows a call), then the 9-row one alone.
    assert (client.calls, client.requests) == (5, 8)


def test_a_refused_request_gets_its_own_error_and_the_others_their_answers(standin_url: str) -> None:
    good = [rows(1, seed=i) for i in range(5)]
    bad = rows(1, seed=99)
    bad[0, 0] = -5.0  # a bill length the model server refuses (400)

    async def run(client: CoalescingClient, endpoint: Endpoint) -> list[Any]:
        calls = [client.infer_matrix(endpoint, m, f"r{i}") for i, m in enumerate([good[0], good[1], bad, *good[2:]])]
        return await asyncio.gather(*calls, return_exceptions=True)

    answers, _ = asyncio.run(_with_client(standin_url, run, max_rows=256))
    refused = answers.pop(2)
    assert isinstance(refused, UpstreamError) and refused.status_code == 400, refused
    assert "bill_length_mm" in str(refused), refused
    for matrix, scores in zip(good, answers, strict=True):
        assert not isinstance(scores, BaseException), scores
        assert scores.class_ids == score_tabular(matrix).argmax(axis=1).tolist()


def test_a_failing_model_fails_every_request_of_its_call(standin_url: str) -> None:
    async def run(client: CoalescingClient, _: Endpoint) -> list[Any]:
        broken = Endpoint(name="broken", url=standin_url)
        calls = [client.infer_matrix(broken, rows(1, seed=i), f"r{i}") for i in range(4)]
        return await asyncio.gather(*calls, return_exceptions=True)

    answers, client = asyncio.run(_with_client(standin_url, run, max_rows=256))
    assert all(isinstance(a, UpstreamError) and a.status_code == 502 for a in answers), answers
    assert (client.calls, client.requests) == (2, 4)


def test_a_caller_that_gives_up_is_not_sent_and_the_others_are_answered(standin_url: str) -> None:
    async def run(client: CoalescingClient, endpoint: Endpoint) -> list[Any]:
        tasks = [asyncio.create_task(client.infer_matrix(endpoint, rows(1, seed=i), f"r{i}")) for i in range(4)]
        await asyncio.sleep(0)  # all four submitted: the first in flight, three waiting
        tasks[2].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    answers, client = asyncio.run(_with_client(standin_url, run, max_rows=256))
    assert isinstance(answers[2], asyncio.CancelledError)
    for i in (0, 1, 3):
        assert not isinstance(answers[i], BaseException), answers[i]
        assert answers[i].class_ids == score_tabular(rows(1, seed=i)).argmax(axis=1).tolist()
    assert (client.calls, client.requests) == (2, 3)


def test_a_coalesced_call_is_in_its_first_requests_trace_and_links_the_others(standin_url: str, spans: Any) -> None:
    from modelship_common import tracing

    async def run(client: CoalescingClient, endpoint: Endpoint) -> list[str]:
        async def one(i: int) -> str:
            with tracing.span(f"request {i}") as current:
                await client.infer_matrix(endpoint, rows(1, seed=i), f"r{i}")
                return format(current.get_span_context().span_id, "016x")

        return await asyncio.gather(*(one(i) for i in range(4)))

    ids, _ = asyncio.run(_with_client(standin_url, run, max_rows=256))
    finished = {span.name: span for span in spans.get_finished_spans()}
    batch = finished["coalesced predict"]
    assert batch.attributes["modelship.coalesced.requests"] == 3
    # Request 0 went alone; 1-3 waited and went together, in request 1's trace, linking 2 and 3.
    assert batch.parent is not None and format(batch.parent.span_id, "016x") == ids[1]
    assert sorted(format(link.context.span_id, "016x") for link in batch.links) == sorted(ids[2:])
