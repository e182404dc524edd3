"""The dashboard page in headless Chromium (Debian's, installed by `make browser`): it shows a
prediction we send, and a banner when the registry promotes a new model. The module has a
service of its own, on a model of its own, so that its promotion touches no other test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from arf_ids.serving.process import ServiceProcess
from arf_ids_tests.serving.support import (
    CONTRACT_API_KEY,
    RegistryServer,
    feature_maps,
    flows_frame,
    service_env,
    start_service,
)

MODEL = "dashboard"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, registry_server: RegistryServer, bundles
) -> Iterator[ServiceProcess]:
    registry_server.publish(MODEL, bundles[0], promote=True)
    running = start_service(service_env(tmp_path_factory.mktemp(MODEL), registry_server.url, MODEL,
                                       api_key=CONTRACT_API_KEY))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, service: ServiceProcess) -> Iterator[Page]:
    """The dashboard, connected to the live feed."""
    opened = browser.new_page()
    opened.goto(f"{service.url}/dashboard?api_key={CONTRACT_API_KEY}")
    expect(opened.locator("#connection")).to_have_text("live", timeout=20_000)
    yield opened
    opened.close()


def test_the_dashboard_shows_a_prediction_sent_to_the_service(page: Page, service: ServiceProcess) -> None:
    expect(page.locator("#model-version")).to_have_text("1")
    expect(page.locator("#banner")).to_be_hidden()

    flow_id = "dashboard-flow-1"
    features = feature_maps(flows_frame(1, seed=201))[0]
    answer = httpx.post(f"{service.url}/predict", json={"flow_id": flow_id, "features": features}).json()

    row = page.locator(f'tr[data-flow-id="{flow_id}"]')
    expect(row).to_have_count(1, timeout=10_000)
    expect(row.locator("td.label")).to_have_text(answer["prediction"])
    expect(row.locator("td.flow")).to_have_text(flow_id)
    expect(page.locator("#flow-count")).to_have_text("1")
    rate = "0.0 %" if answer["prediction"] == "BENIGN" else "100.0 %"  # the only flow of its minute
    expect(page.locator("#attack-rate")).to_have_text(rate)


def test_a_promotion_in_the_registry_raises_the_model_changed_banner(
    page: Page, service: ServiceProcess, registry_server: RegistryServer, bundles
) -> None:
    expect(page.locator("#model-version")).to_have_text("1")
    registry_server.publish(MODEL, bundles[1], promote=True)  # the service polls every second

    expect(page.locator("#banner")).to_be_visible(timeout=30_000)
    expect(page.locator("#banner")).to_contain_text("Model updated: version 1 → 2")
    expect(page.locator("#model-version")).to_have_text("2")
    expect(page.locator("#reload-count")).to_have_text("1")
    features = feature_maps(flows_frame(1, seed=202))[0]
    answer = httpx.post(f"{service.url}/predict", json={"flow_id": "after-swap", "features": features}).json()
    assert answer["model_version"] == 2
    expect(page.locator('tr[data-flow-id="after-swap"] td').nth(4)).to_have_text("2", timeout=10_000)
