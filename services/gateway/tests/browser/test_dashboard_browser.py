"""The dashboard in headless chromium: upload an image and watch the three digits models answer, filter the
predictions, predict a penguin, and open every page with no console error and no failed request.

A screenshot of every page goes to ``build/screenshots/`` (gitignored).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.procs import Proc
from modelship_common.schemas import digits, penguins
from services.gateway.tests.browser.conftest import DIGITS_MODELS, PageProblems

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PAGES = {
    "home": "/dashboard/",
    "upload": "/dashboard/upload",
    "penguins": "/dashboard/penguins",
    "predictions": "/dashboard/predictions",
    "models": "/dashboard/models",
    "rollouts": "/dashboard/rollouts",
    "monitoring": "/dashboard/monitoring",
    "experiments": "/dashboard/experiments",
}
PageFixture = tuple[Any, PageProblems]


def digit_png(index: int) -> bytes:
    """One of scikit-learn's shipped 8x8 digits, upsampled to 28x28 as the models were trained, as PNG bytes."""
    from sklearn.datasets import load_digits

    images, _ = load_digits(return_X_y=True)
    return digits.encode_png(digits.upsample_8x8(images[index : index + 1])[0, :, :, 0])


def upload_through_the_api(gateway: Proc, png: bytes) -> str:
    """Upload through the REST API and wait until every digits model scored it."""
    with httpx.Client(base_url=str(gateway.url), timeout=30) as http:
        answer = http.post("/api/images", files={"file": ("digit.png", png, "image/png")}, params={"source": "api"})
        assert answer.status_code == 202, answer.text
        image_id = answer.json()["id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            image = http.get(f"/api/images/{image_id}").json()
            if image["status"] != "uploaded":
                assert image["status"] == "processed", image
                assert len(image["predictions"]) == len(DIGITS_MODELS)
                return str(image_id)
            time.sleep(0.2)
    raise AssertionError(f"image {image_id} was not scored within 60 s")


def wait_for_registry_metrics(gateway: Proc) -> None:
    """Poll until the gateway has every served model's test metrics from MLflow (first lookups may time out)."""
    deadline = time.monotonic() + 90
    models: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        models = httpx.get(f"{gateway.url}/api/models", timeout=30).json()
        if models and all(m["metrics"] for m in models):
            return
        time.sleep(1)
    raise AssertionError(f"the gateway did not get the models' metrics from MLflow within 90 s: {models}")


def test_upload_shows_the_three_predictions(
    dashboard: Proc, page: PageFixture, tmp_path: Path, screenshots: Path
) -> None:
    tab, problems = page
    png = tmp_path / "digit.png"
    png.write_bytes(digit_png(3))
    tab.goto(f"{dashboard.url}/dashboard/upload")
    cards = tab.locator(".model-card")
    assert sorted(cards.evaluate_all("els => els.map(e => e.dataset.model)")) == sorted(DIGITS_MODELS)
    tab.set_input_files("#upload-file", str(png))
    tab.click("#upload-submit")
    tab.wait_for_function("document.querySelectorAll('.model-card.done').length === 3", timeout=60_000)
    tab.wait_for_function("document.getElementById('upload-status').textContent.startsWith('done')")

    image_id = tab.locator("#upload-id").inner_text().removeprefix("image ").strip()
    stored = httpx.get(f"{dashboard.url}/api/images/{image_id}", timeout=10).json()
    assert stored["status"] == "processed" and stored["source"] == "dashboard"
    expected = {p["model_name"]: p for p in stored["predictions"]}
    assert sorted(expected) == sorted(DIGITS_MODELS)
    for name, prediction in expected.items():
        card = tab.locator(f'.model-card[data-model="{name}"]')
        assert card.locator(".mc-class").inner_text() == prediction["predicted_class"]
        assert card.locator(".mc-conf").inner_text() == f"{prediction['confidence'] * 100:.1f}%"
        assert card.locator(".mc-latency").inner_text().endswith(" ms")
        assert card.locator(".mc-version").inner_text() == prediction["model_version"]
    tab.screenshot(path=str(screenshots / "upload-result.png"), full_page=True)
    problems.check()


def test_every_page_loads_cleanly_with_data(dashboard: Proc, page: PageFixture, screenshots: Path) -> None:
    for index in (0, 1, 7, 12):
        upload_through_the_api(dashboard, digit_png(index))
    row = {"island": "Dream", "bill_length_mm": 46.5, "bill_depth_mm": 17.9, "flipper_length_mm": 192,
           "body_mass_g": 3500, "sex": "female"}  # fmt: skip
    answer = httpx.post(f"{dashboard.url}/api/models/penguins/predict", json={"instances": [row]}, timeout=30)
    assert answer.status_code == 200, answer.text

    wait_for_registry_metrics(dashboard)
    tab, problems = page
    for name, path in PAGES.items():
        response = tab.goto(f"{dashboard.url}{path}")
        assert response is not None and response.status == 200, (path, response and response.status)
        tab.wait_for_load_state("networkidle")
        assert tab.locator("nav.sidebar a.active").count() == 1, path
        assert tab.locator(".alert").count() == 0 or name == "experiments", (
            path,
            tab.locator(".alert").all_inner_texts(),
        )
        if name == "home":
            assert tab.locator("#count-images").inner_text() == "4"
            assert tab.locator("#count-predictions").inner_text() == str(4 * len(DIGITS_MODELS) + 1)
            thumbs = tab.locator(".thumb img")
            assert thumbs.count() == 4
            # every thumbnail really loaded (naturalWidth > 0), through GET /api/images/{id}/content
            assert thumbs.evaluate_all("els => els.every(e => e.complete && e.naturalWidth > 0)")
        if name == "models":
            tab.wait_for_selector("#chart-latency .main-svg")
            tab.wait_for_selector("#chart-agreement .main-svg")
            assert tab.locator("#scored-by-all").inner_text() == "4"
            assert tab.locator("#version-stats th", has_text="test_f1").count() == 1  # MLflow test metrics
        if name == "monitoring":
            statuses = dict(
                zip(
                    tab.locator("#health tbody tr").evaluate_all("els => els.map(e => e.dataset.component)"),
                    tab.locator("#health tbody tr").evaluate_all("els => els.map(e => e.dataset.status)"),
                    strict=True,
                )
            )
            assert statuses["MLflow"] == "up" and statuses["database"] == "up"
            assert statuses["object storage"] == "up" and statuses["Kafka"] == "not configured"
            for model in ("penguins", *DIGITS_MODELS):
                assert statuses[f"model server {model}"] == "up"
        if name == "experiments":
            assert tab.locator(".experiment").count() >= 1
            assert tab.locator("#mlflow-error").count() == 0
        tab.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
    problems.check()


def test_filter_predictions(dashboard: Proc, page: PageFixture, screenshots: Path) -> None:
    for index in (2, 5):
        upload_through_the_api(dashboard, digit_png(index))
    tab, problems = page
    tab.goto(f"{dashboard.url}/dashboard/predictions")
    assert tab.locator("#stat-count").inner_text() == str(2 * len(DIGITS_MODELS))
    tab.select_option("#filter-model", "digits-balanced")
    tab.select_option("#filter-source", "stream")  # uploads are scored by the fan-out core
    tab.click("#filter-apply")
    tab.wait_for_url(re.compile(r"model=digits-balanced"))
    assert tab.locator("#stat-count").inner_text() == "2"
    cells = tab.locator("#predictions-table tbody tr td:nth-child(2)").all_inner_texts()
    assert cells == ["digits-balanced", "digits-balanced"]
    assert tab.locator("#filter-model").input_value() == "digits-balanced"  # the filter stays selected
    tab.screenshot(path=str(screenshots / "predictions-filtered.png"), full_page=True)

    newest_class = tab.locator("#predictions-table tbody tr td.cls").first.inner_text()
    tab.select_option("#filter-model", "")
    tab.select_option("#filter-class", newest_class)
    tab.click("#filter-apply")
    tab.wait_for_url(re.compile(r"class="))
    count = int(tab.locator("#stat-count").inner_text())
    assert 1 <= count <= 2 * len(DIGITS_MODELS)
    assert tab.locator("#predictions-table tbody td.cls").all_inner_texts() == [newest_class] * count
    problems.check()


def test_penguins_form_predicts(dashboard: Proc, page: PageFixture, screenshots: Path) -> None:
    tab, problems = page
    tab.goto(f"{dashboard.url}/dashboard/penguins")
    assert tab.locator("#model option").all_inner_texts()[0].startswith("penguins")
    assert tab.locator("#body_mass_g").get_attribute("min") == "1000.0"
    tab.select_option("#model", "penguins")
    tab.select_option("#island", "Biscoe")
    tab.fill("#bill_length_mm", "49.1")
    tab.fill("#bill_depth_mm", "14.5")
    tab.fill("#flipper_length_mm", "223")
    tab.fill("#body_mass_g", "5650")
    tab.select_option("#sex", "male")
    tab.click("#penguins-submit")
    tab.wait_for_selector("#penguins-class")
    assert tab.locator("#penguins-class").inner_text() in penguins.CLASSES
    assert tab.locator("#penguins-probabilities tbody tr").count() == len(penguins.CLASSES)
    assert tab.locator("#bill_length_mm").input_value() == "49.1"  # the form keeps what was sent
    tab.screenshot(path=str(screenshots / "penguins-result.png"), full_page=True)
    problems.check()


def test_data_pages_refresh_themselves(
    start_gateway: Callable[..., Proc], model_servers: dict[str, Proc], page: PageFixture, tmp_path: Path
) -> None:
    gateway = start_gateway(
        model_servers={name: str(proc.url) for name, proc in model_servers.items()},
        MODELSHIP_OBJECT_STORE="local",
        MODELSHIP_IMAGE_DIR=str(tmp_path / "images"),
        MODELSHIP_KAFKA_BOOTSTRAP_SERVERS="",
        MODELSHIP_REFRESH_S="1",
    )
    tab, problems = page
    tab.goto(f"{gateway.url}/dashboard/")
    assert tab.locator("#count-images").inner_text() == "0"
    tab.evaluate("window.__same_document = true")
    upload_through_the_api(gateway, digit_png(4))
    tab.wait_for_function("document.getElementById('count-images').textContent === '1'", timeout=15_000)
    tab.wait_for_selector(".thumb img")
    assert tab.evaluate("window.__same_document === true")  # refreshed in place, not reloaded
    assert tab.locator("#refresh-status").inner_text().startswith("updated")
    problems.check()
