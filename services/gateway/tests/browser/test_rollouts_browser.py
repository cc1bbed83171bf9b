"""The Rollouts page in headless chromium: a rolled-back, an active and a pending rollout (rows made with the
rollout helpers, as in ``test_rollouts.py``), every weight chart drawn, no console error and no failed request."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devtools.procs import Proc
from modelship_common.db import make_engine, utcnow
from services.gateway.tests.browser.conftest import PageProblems
from services.gateway.tests.test_rollouts import active_canary, pending_shadow, rolled_back

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_rollouts_page_draws_every_rollout(
    start_gateway: Callable[..., Proc], page: tuple[Any, PageProblems], screenshots: Path, tmp_path: Path
) -> None:
    gateway = start_gateway(
        MODELSHIP_OBJECT_STORE="local",
        MODELSHIP_IMAGE_DIR=str(tmp_path / "images"),
        MODELSHIP_KAFKA_BOOTSTRAP_SERVERS="",
    )
    engine = make_engine(gateway.meta["database_url"])  # migrated by the gateway's startup
    try:
        now = utcnow()
        ids = [rolled_back(engine, now).id, active_canary(engine, now).id, pending_shadow(engine, now).id]
    finally:
        engine.dispose()
    tab, problems = page
    response = tab.goto(f"{gateway.url}/dashboard/rollouts")
    assert response is not None and response.status == 200
    tab.wait_for_load_state("networkidle")
    assert tab.locator("nav.sidebar a.active").inner_text() == "Rollouts"
    for rollout_id in ids:
        tab.wait_for_selector(f"#chart-rollout-{rollout_id} .main-svg")
    assert tab.locator(f"#gates-{ids[1]} tr[data-result='pass']").count() == 4
    assert tab.locator(f"#gates-{ids[0]} tr[data-gate='error_rate']").get_attribute("data-result") == "fail"
    tab.screenshot(path=str(screenshots / "rollouts.png"), full_page=True)
    problems.check()
