import asyncio
import json
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer

from modelship_operator.webhook import Delivery, SignatureError, create_webhook_app, sign, verify_signature

SECRET = "s3cret"


def _reference_signature(secret, delivery_id, timestamp, payload_json):
    """MLflow's documented scheme, restated independently: v1,base64(HMAC-SHA256(secret, id.ts.payload))."""
    import base64
    import hashlib
    import hmac

    mac = hmac.new(secret.encode(), f"{delivery_id}.{timestamp}.{payload_json}".encode(), hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def test_sign_matches_mlflow_scheme():
    body = json.dumps({"entity": "model_version_alias", "action": "created", "data": {"name": "m"}})
    assert sign(SECRET, "d1", "1700000000", body.encode()) == _reference_signature(SECRET, "d1", "1700000000", body)


def test_sign_matches_mlflow_itself():
    from mlflow.webhooks.delivery import _generate_hmac_signature

    body = '{"entity": "model_version", "action": "created"}'
    assert sign(SECRET, "id", "123", body.encode()) == _generate_hmac_signature(SECRET, "id", "123", body)


def _verify(**overrides):
    body = b'{"a": 1}'
    now = 1_700_000_000
    args = {
        "delivery_id": "d",
        "timestamp": str(now),
        "signature": sign(SECRET, "d", str(now), body),
        "body": body,
        "max_age_seconds": 300,
        "now": now + 10,
    }
    args.update(overrides)
    verify_signature(SECRET, **args)


def test_verify_ok():
    _verify()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"signature": None}, "missing X-MLflow-Signature"),
        ({"delivery_id": None}, "missing X-MLflow-Delivery-Id"),
        ({"timestamp": "yesterday"}, "unix seconds"),
        ({"now": 1_700_000_000 + 301}, "away from now"),
        ({"now": 1_700_000_000 - 301}, "away from now"),
        ({"body": b'{"a": 2}'}, "does not match"),
        ({"delivery_id": "other"}, "does not match"),
        ({"signature": "v1,AAAA"}, "does not match"),
    ],
)
def test_verify_rejects(overrides, message):
    with pytest.raises(SignatureError, match=message):
        _verify(**overrides)


def test_verify_wrong_secret():
    body = b"{}"
    ts = str(int(time.time()))
    with pytest.raises(SignatureError):
        verify_signature(
            SECRET, delivery_id="d", timestamp=ts, signature=sign("other", "d", ts, body), body=body, max_age_seconds=60
        )


def test_verify_accepts_one_of_several_signatures():
    _verify(signature="v1,AAAA " + sign(SECRET, "d", "1700000000", b'{"a": 1}'))


def _headers(body: bytes, secret: str = SECRET, delivery_id: str = "d-1"):
    ts = str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "X-MLflow-Delivery-Id": delivery_id,
        "X-MLflow-Timestamp": ts,
        "X-MLflow-Signature": sign(secret, delivery_id, ts, body),
    }


def _run(coro_fn):
    async def main():
        got: list[Delivery] = []
        results: list[str] = []

        async def trigger(delivery: Delivery) -> int:
            got.append(delivery)
            return 2

        app = create_webhook_app(SECRET, trigger, max_age_seconds=60, on_result=results.append)
        async with TestClient(TestServer(app)) as client:
            await coro_fn(client, got, results)

    asyncio.run(main())


@pytest.mark.integration  # aiohttp's TestServer listens on a loopback port
def test_app_accepts_signed_alias_event():
    body = json.dumps(
        {
            "entity": "model_version_alias",
            "action": "created",
            "timestamp": "x",
            "data": {"name": "penguins", "alias": "champion", "version": "2"},
        }
    ).encode()

    async def check(client, got, results):
        resp = await client.post("/webhooks/mlflow", data=body, headers=_headers(body))
        assert resp.status == 202
        assert await resp.json() == {"status": "accepted", "event": "model_version_alias.created", "triggered": 2}
        assert got[0].model == "penguins"
        assert got[0].namespace is None
        resp = await client.post("/webhooks/mlflow/ml/mlflow", data=body, headers=_headers(body))
        assert resp.status == 202
        assert (got[1].namespace, got[1].registry) == ("ml", "mlflow")
        assert results == ["accepted", "accepted"]

    _run(check)


@pytest.mark.integration  # aiohttp's TestServer listens on a loopback port
def test_app_rejects_bad_signature_with_401_json():
    body = b'{"entity": "model_version", "action": "created", "data": {}}'

    async def check(client, got, results):
        resp = await client.post("/webhooks/mlflow", data=body, headers=_headers(body, secret="wrong"))
        assert resp.status == 401
        assert resp.content_type == "application/json"
        assert "invalid webhook signature" in (await resp.json())["error"]
        resp = await client.post("/webhooks/mlflow", data=body)
        assert resp.status == 401
        assert got == []
        assert results == ["bad_signature", "bad_signature"]

    _run(check)


@pytest.mark.integration  # aiohttp's TestServer listens on a loopback port
def test_app_bad_payload_and_ignored_events():
    async def check(client, got, results):
        body = b"not json"
        resp = await client.post("/webhooks/mlflow", data=body, headers=_headers(body))
        assert resp.status == 400
        body = b'{"entity": "prompt", "action": "created", "data": {}}'
        resp = await client.post("/webhooks/mlflow", data=body, headers=_headers(body))
        assert resp.status == 202
        assert (await resp.json())["status"] == "ignored"
        assert got == []
        resp = await client.get("/healthz")
        assert resp.status == 200

    _run(check)
