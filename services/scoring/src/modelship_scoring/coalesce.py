"""Coalesced model-server calls: concurrent tabular predictions for one model share one call.

:class:`CoalescingClient` wraps a :class:`~modelship_scoring.model_servers.ModelServerClient`. Its
``infer_matrix`` works as group commit does for the predictions table: a request that finds its model idle (fewer
than ``max_in_flight`` calls in flight) makes its call at once, in its own task; requests for the same model that
arrive while the calls are busy wait for one to finish and then go out together, their rows stacked into one
matrix (at most ``max_rows`` rows a call), and each caller gets its own rows of the answer. Alone, a request
waits for nobody; under load one call carries many requests: one predict over n rows costs a model server little
more than over one row, and the gateway spends one HTTP exchange on n predictions.

What stays per request: the answer (the rows are scored independently, so a row's scores do not depend on the
rows beside it), the version (the one call's), the error (a model server's 4xx to a coalesced call is asked again
request by request, so each caller gets the answer to its own rows; a 5xx, a timeout or a refused connection
reaches every caller of that call, as it would have reached each of them alone). A coalesced call carries the first
request's id and runs in its context (its trace, its log fields); with tracing on, a span ``coalesced predict``
around it links to the span of every other request it carries, as a Kafka batch's spans do.

Images are not coalesced here: the fan-out batches them itself (``infer_images``).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field

import numpy as np
from opentelemetry import trace

from modelship_common import tracing
from modelship_scoring.discovery import Endpoint
from modelship_scoring.errors import UpstreamError
from modelship_scoring.model_servers import ModelServerClient, Scores, ServerStatus


@dataclass
class _Waiting:
    """A request waiting for its model's call in flight to finish."""

    matrix: np.ndarray
    request_id: str
    context: contextvars.Context
    #: Its span (tracing on), which the coalesced call's span links to.
    span: trace.SpanContext | None
    answer: asyncio.Future[Scores]


@dataclass
class _Lane:
    """One model (one endpoint): its calls in flight, and the requests waiting for one to finish."""

    in_flight: int = 0
    waiting: list[_Waiting] = field(default_factory=list)


def split(scores: Scores, sizes: Sequence[int]) -> list[Scores]:
    """One model-server answer for stacked matrices, cut back into one answer per matrix (``sizes`` rows each)."""
    if sum(sizes) != len(scores.class_ids):
        raise UpstreamError(f"model server answered {len(scores.class_ids)} rows for {sum(sizes)} instances")
    parts = []
    start = 0
    for size in sizes:
        end = start + size
        parts.append(
            Scores(
                version=scores.version,
                class_ids=scores.class_ids[start:end],
                class_names=scores.class_names[start:end],
                probabilities=scores.probabilities[start:end],
                classes=scores.classes,
            )
        )
        start = end
    return parts


class CoalescingClient:
    """A :class:`ModelServerClient` whose ``infer_matrix`` calls are coalesced per model (see the module)."""

    def __init__(self, inner: ModelServerClient, *, max_rows: int, max_in_flight: int = 1) -> None:
        if max_rows < 1 or max_in_flight < 1:
            raise ValueError("max_rows and max_in_flight must be at least 1")
        self.inner = inner
        self.max_rows = max_rows
        self.max_in_flight = max_in_flight
        self._lanes: dict[tuple[str, str], _Lane] = {}
        self._senders: set[asyncio.Task[None]] = set()
        #: ``infer_matrix`` calls made to model servers, and the requests they carried.
        self.calls = 0
        self.requests = 0

    async def status(self, endpoint: Endpoint, timeout: float) -> ServerStatus:
        return await self.inner.status(endpoint, timeout)

    async def infer_image(self, endpoint: Endpoint, data: bytes, request_id: str) -> Scores:
        return await self.inner.infer_image(endpoint, data, request_id)

    async def infer_images(self, endpoint: Endpoint, images: Sequence[bytes], request_id: str) -> Scores:
        return await self.inner.infer_images(endpoint, images, request_id)

    async def infer_matrix(self, endpoint: Endpoint, matrix: np.ndarray, request_id: str) -> Scores:
        key = (endpoint.url, endpoint.name)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        if lane.in_flight < self.max_in_flight:  # nothing to wait for: call now, in this request's own task
            lane.in_flight += 1
            self.calls += 1
            self.requests += 1
            try:
                return await self.inner.infer_matrix(endpoint, matrix, request_id)
            finally:
                self._next(endpoint, key, lane)
        span = trace.get_current_span().get_span_context() if tracing.enabled() else None
        answer: asyncio.Future[Scores] = asyncio.get_running_loop().create_future()
        lane.waiting.append(_Waiting(np.asarray(matrix), request_id, contextvars.copy_context(), span, answer))
        return await answer

    def _next(self, endpoint: Endpoint, key: tuple[str, str], lane: _Lane) -> None:
        """A call is over: send what waited, in a task of its own (in its first request's context)."""
        lane.waiting = [w for w in lane.waiting if not w.answer.done()]  # a caller that gave up is not sent
        if not lane.waiting:
            lane.in_flight -= 1
            if not lane.in_flight:  # idle: the next request makes a new lane
                del self._lanes[key]
            return
        group = self._take(lane)
        self.calls += 1
        self.requests += len(group)
        sending = self._send(endpoint, key, lane, group)
        sender = asyncio.get_running_loop().create_task(sending, context=group[0].context)
        self._senders.add(sender)
        sender.add_done_callback(self._senders.discard)

    def _take(self, lane: _Lane) -> list[_Waiting]:
        """The next call's requests: in arrival order, up to ``max_rows`` rows of one width (a larger one alone)."""
        first = lane.waiting[0]
        group, rows, width = [first], len(first.matrix), first.matrix.shape[1:]
        rest: list[_Waiting] = []
        for waiting in lane.waiting[1:]:
            size = len(waiting.matrix)
            if waiting.matrix.shape[1:] == width and rows + size <= self.max_rows:
                group.append(waiting)
                rows += size
            else:
                rest.append(waiting)
        lane.waiting = rest
        return group

    async def _send(self, endpoint: Endpoint, key: tuple[str, str], lane: _Lane, group: list[_Waiting]) -> None:
        try:
            if len(group) == 1:
                await _settle(group[0], self.inner.infer_matrix(endpoint, group[0].matrix, group[0].request_id))
            elif tracing.enabled():
                links = [trace.Link(w.span) for w in group[1:] if w.span is not None and w.span.is_valid]
                attributes: dict[str, str | int] = {
                    "modelship.model": endpoint.name,
                    "modelship.coalesced.requests": len(group),
                }
                with tracing.tracer().start_as_current_span("coalesced predict", links=links, attributes=attributes):
                    await self._coalesced(endpoint, group)
            else:
                await self._coalesced(endpoint, group)
        except BaseException as exc:  # cancelled (shutdown): nobody of the group waits forever
            _fail(group, UpstreamError(f"model server call did not finish: {type(exc).__name__}"))
            raise
        finally:
            self._next(endpoint, key, lane)

    async def _coalesced(self, endpoint: Endpoint, group: list[_Waiting]) -> None:
        """One call for the stacked rows of ``group``; each caller gets its rows of the answer, or the error."""
        stacked = np.concatenate([waiting.matrix for waiting in group])
        try:
            scores = await self.inner.infer_matrix(endpoint, stacked, group[0].request_id)
            parts = split(scores, [len(waiting.matrix) for waiting in group])
        except UpstreamError as exc:
            if not 400 <= exc.status_code < 500:
                _fail(group, exc)
                return
            # The model refused something: ask again, each request for itself, so each gets its own answer.
            await asyncio.gather(
                *(_settle(w, self.inner.infer_matrix(endpoint, w.matrix, w.request_id)) for w in group)
            )
            return
        except Exception as exc:
            _fail(group, exc)
            return
        for waiting, part in zip(group, parts, strict=True):
            if not waiting.answer.done():
                waiting.answer.set_result(part)


async def _settle(waiting: _Waiting, call: Awaitable[Scores]) -> None:
    """Give ``waiting`` the answer of ``call``, or its error."""
    try:
        scores = await call
    except Exception as exc:
        _fail([waiting], exc)
    else:
        if not waiting.answer.done():
            waiting.answer.set_result(scores)


def _fail(group: Sequence[_Waiting], exc: BaseException) -> None:
    for waiting in group:
        if not waiting.answer.done():
            waiting.answer.set_exception(exc)
