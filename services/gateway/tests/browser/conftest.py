"""Browser tests of the dashboard: Debian's chromium driven by Playwright, against a real gateway process in front
of real model servers (penguins and the three digits models, trained for real).

The servers come from the platform's session fixtures (``devtools/pytest_platform.py``, registered by the root
``conftest.py``: MLflow, PostgreSQL, training, model servers, ``start_gateway``). A missing chromium fails the session
with the make target that installs it; it is never skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devtools.procs import Proc

# `start_gateway`: the gateway's own conftest defines an in-process one (stand-in model servers, no MLflow); the
# browser tests need the platform's, which starts `python -m modelship_gateway` against the session's real servers.
# Importing it makes it the closest definition for this directory (function-scoped: nothing is started twice).
from devtools.pytest_platform import DIGITS_MODELS, start_gateway
from devtools.servers import REPO_ROOT

CHROMIUM = Path(os.environ.get("MODELSHIP_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO_ROOT / "build" / "screenshots"


# Module scope: sync_playwright keeps an event loop running until it exits, which would break every later
# asyncio.run() in the session.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian chromium (never a browser downloaded by ``playwright install``)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run `make browser` (scripts/install-browser.sh: apt-get install -y chromium)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def dashboard(start_gateway: Callable[..., Proc], model_servers: dict[str, Proc], tmp_path: Path) -> Proc:
    """A real ``python -m modelship_gateway`` in front of the four real model servers; no Kafka, so uploaded
    images are scored in-process; images in a local directory; its own SQLite database."""
    return start_gateway(
        model_servers={name: str(proc.url) for name, proc in model_servers.items()},
        MODELSHIP_OBJECT_STORE="local",
        MODELSHIP_IMAGE_DIR=str(tmp_path / "images"),
        MODELSHIP_KAFKA_BOOTSTRAP_SERVERS="",
        # MLflow may be slow to answer the first registry lookups: ask again soon rather than in 30 s.
        MODELSHIP_REGISTRY_RETRY_S="2",
    )


@dataclass
class PageProblems:
    """Everything that went wrong in the browser: console errors, page errors, failed or 4xx/5xx requests."""

    console: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def check(self) -> None:
        assert not self.console, f"console errors: {self.console}"
        assert not self.failed, f"failed requests: {self.failed}"


@pytest.fixture
def page(browser: Any) -> Iterator[tuple[Any, PageProblems]]:
    """A fresh browser page that records every console error and failed request; the test ends by checking them."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    problems = PageProblems()
    page.on("console", lambda msg: problems.console.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.console.append(f"page error: {exc}"))
    page.on("requestfailed", lambda req: problems.failed.append(f"{req.method} {req.url}: {req.failure}"))
    page.on(
        "response",
        lambda resp: (
            problems.failed.append(f"{resp.request.method} {resp.url}: HTTP {resp.status}")
            if resp.status >= 400
            else None
        ),
    )
    try:
        yield page, problems
    finally:
        context.close()


__all__ = ["DIGITS_MODELS", "PageProblems", "start_gateway"]
