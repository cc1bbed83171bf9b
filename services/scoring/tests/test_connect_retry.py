"""A model server that refuses connections for a moment (its pod being replaced) costs the caller nothing; one that
stays down is a clear UpstreamError after the retries."""

from __future__ import annotations

import asyncio
import socket
import struct
import time

import aiohttp
import pytest
from aiohttp import web

from devtools.procs import free_port
from modelship_scoring.errors import UpstreamError
from modelship_scoring.model_servers import CONNECT_RETRY_DELAYS_S, call_json

pytestmark = pytest.mark.integration  # listens on a loopback port


async def _serve_later(port: int, after_s: float) -> web.AppRunner:
    await asyncio.sleep(after_s)
    app = web.Application()

    async def ready(_: web.Request) -> web.Response:
        return web.json_response({"ready": True})

    app.router.add_get("/v2/health/ready", ready)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def test_a_refused_connection_is_retried_until_the_server_listens() -> None:
    async def main() -> dict[str, object]:
        port = free_port()
        starting = asyncio.create_task(_serve_later(port, 0.1))  # refused at first: nothing listens yet
        async with aiohttp.ClientSession() as http:
            body = await call_json(http, "GET", f"http://127.0.0.1:{port}/v2/health/ready", timeout=5)
        await (await starting).cleanup()
        return body

    assert asyncio.run(main()) == {"ready": True}


def test_a_server_that_stays_down_fails_after_the_retries() -> None:
    async def main() -> float:
        port = free_port()
        t0 = time.monotonic()
        async with aiohttp.ClientSession() as http:
            with pytest.raises(UpstreamError, match=r"model server unreachable: GET http://127\.0\.0\.1"):
                await call_json(http, "GET", f"http://127.0.0.1:{port}/v2/health/ready", timeout=5)
        return time.monotonic() - t0

    assert asyncio.run(main()) >= sum(CONNECT_RETRY_DELAYS_S)


async def _dropping_server(
    port: int, drops: int, armed_below: int = 10**6
) -> tuple[asyncio.Server, list[str], list[int]]:
    """An HTTP/1.1 server with kept-alive connections that resets the connection for the first ``drops`` requests
    it reads on a connection opened before ``armed[0]`` connections existed (as a server does that stops while
    requests arrive on its kept-alive connections), and answers ``{"ready": true}`` to the others."""
    seen: list[str] = []
    armed = [armed_below]  # connections numbered below this are reset on their next request
    opened = [0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = opened[0]
        opened[0] += 1
        while True:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()
                return
            if number < armed[0] and seen.count("reset") < drops:
                seen.append("reset")
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
                writer.close()
                return
            seen.append("answered")
            body = b'{"ready":true}'
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
            writer.write(head + body)
            await writer.drain()

    return await asyncio.start_server(handle, "127.0.0.1", port), seen, armed


def test_a_connection_reset_before_the_answer_is_sent_again_once() -> None:
    async def main() -> tuple[dict[str, object], list[str]]:
        port = free_port()
        server, seen, _ = await _dropping_server(port, drops=1)
        async with server, aiohttp.ClientSession() as http:
            body = await call_json(http, "POST", f"http://127.0.0.1:{port}/v2/models/m/infer", json={}, timeout=5)
        return body, seen

    assert asyncio.run(main()) == ({"ready": True}, ["reset", "answered"])


def test_the_resend_takes_a_new_connection_not_another_dying_one_from_the_pool() -> None:
    """Two kept-alive connections in the pool, both reset on their next request (the server stopping): the resend
    must not pick the second one; a pooled resend failed here."""

    async def main() -> tuple[dict[str, object], list[str]]:
        port = free_port()
        server, seen, armed = await _dropping_server(port, drops=2, armed_below=0)
        url = f"http://127.0.0.1:{port}/v2/models/m/infer"
        async with server, aiohttp.ClientSession() as http:
            await asyncio.gather(*(call_json(http, "POST", url, json={}, timeout=5) for _ in range(2)))
            assert seen == ["answered", "answered"]  # on two connections, now idle in the pool
            armed[0] = 2
            body = await call_json(http, "POST", url, json={}, timeout=5)
        return body, seen[2:]

    assert asyncio.run(main()) == ({"ready": True}, ["reset", "answered"])


def test_a_server_that_drops_every_request_gets_it_twice_and_then_a_clear_error() -> None:
    async def main() -> list[str]:
        port = free_port()
        server, seen, _ = await _dropping_server(port, drops=10)
        async with server, aiohttp.ClientSession() as http:
            with pytest.raises(UpstreamError, match=r"model server unreachable: POST http://127\.0\.0\.1"):
                await call_json(http, "POST", f"http://127.0.0.1:{port}/v2/models/m/infer", json={}, timeout=5)
        return seen

    assert asyncio.run(main()) == ["reset", "reset"]  # one resend, not four: a request may be what kills a server
