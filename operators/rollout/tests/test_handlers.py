"""The handlers kopf registers at import: the alias resync is a kopf timer, the rollout loop and the registry sync
stay daemons (no API server: kopf's registry is read in a fresh interpreter)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import kopf
import pytest

import modelship_operator.handlers as handlers

SPAWNED = """
import json, kopf, modelship_operator.handlers
out = {}
for h in kopf.get_default_registry()._spawning.get_all_handlers():
    out[h.fn.__name__] = {
        "kind": type(h).__name__,
        "interval": getattr(h, "interval", None),
        "initial_delay": h.initial_delay,
        "sharp": getattr(h, "sharp", None),
        "idle": getattr(h, "idle", None),
        "when": getattr(h.when, "__name__", None),
        "plural": h.selector.any_name,
    }
print(json.dumps(out))
"""


def spawned(env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", SPAWNED], env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_the_alias_resync_is_a_timer_on_the_settings_interval() -> None:
    found = spawned({"MODELSHIP_RESYNC_SECONDS": "7"})
    assert found["isvc_alias_resync"] == {
        "kind": "TimerHandler",
        "interval": 7.0,
        "initial_delay": 7.0,  # as the daemon did: sleep first, then re-resolve
        "sharp": None,  # the interval counts from the end of the previous pass, as the daemon's sleep did
        "idle": None,
        "when": "_follows_alias_alone",
        "plural": "inferenceservices",
    }
    assert found["isvc_rollout_loop"]["kind"] == "DaemonHandler"
    assert found["registry_daemon"]["kind"] == "DaemonHandler"
    assert found["registry_daemon"]["plural"] == "modelregistries"
    assert spawned({"MODELSHIP_RESYNC_SECONDS": ""})["isvc_alias_resync"]["interval"] == 30.0


@pytest.mark.parametrize(("raw", "seconds"), [(None, 30.0), ("12.5", 12.5), ("0", 30.0), ("-1", 30.0), ("x", 30.0)])
def test_import_time_resync_seconds(monkeypatch: pytest.MonkeyPatch, raw: str | None, seconds: float) -> None:
    """A value the settings refuse falls back to the default: the startup handler reports it, not the import."""
    if raw is None:
        monkeypatch.delenv("MODELSHIP_RESYNC_SECONDS", raising=False)
    else:
        monkeypatch.setenv("MODELSHIP_RESYNC_SECONDS", raw)
    assert handlers.import_time_resync_seconds() == seconds


@pytest.mark.parametrize(
    ("error", "level"),
    [(None, None), (kopf.TemporaryError("MLflow is down"), logging.DEBUG), (RuntimeError("boom"), logging.ERROR)],
)
def test_a_resync_pass_never_raises(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, error: Exception | None, level: int | None
) -> None:
    """kopf would retry a timer that raised on its own backoff; a failed pass waits for the next tick instead."""
    calls: list[tuple[Any, ...]] = []
    op = object()

    async def reconcile(*args: Any, trigger: str) -> None:
        calls.append((*args, trigger))
        if error is not None:
            raise error

    monkeypatch.setattr(handlers, "reconcile_isvc", reconcile)
    memo = SimpleNamespace(runtime=SimpleNamespace(op=op))
    logger = logging.getLogger("test_handlers")
    with caplog.at_level(logging.DEBUG, logger="test_handlers"):
        asyncio.run(handlers.isvc_alias_resync(name="a", namespace="ml", memo=memo, logger=logger))
    assert calls == [(op, "ml", "a", "resync")]
    assert [r.levelno for r in caplog.records if r.name == "test_handlers"] == ([level] if level else [])
