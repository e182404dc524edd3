"""The dashboard page in headless Chromium (Debian's, installed by `make browser`) shows a prediction we send."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from arf_ids.serving.process import ServiceProcess
from arf_ids_tests.serving.support import CONTRACT_API_KEY, feature_maps, flows_frame

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]


def test_the_dashboard_shows_a_prediction_sent_to_the_service(contract_service: ServiceProcess) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{contract_service.url}/dashboard?api_key={CONTRACT_API_KEY}")
            expect(page.locator("#connection")).to_have_text("live", timeout=20_000)
            expect(page.locator("#model-version")).to_have_text("1")

            flow_id = "dashboard-flow-1"
            features = feature_maps(flows_frame(1, seed=201))[0]
            sent = {"flow_id": flow_id, "features": features}
            answer = httpx.post(f"{contract_service.url}/predict", json=sent).json()

            row = page.locator(f'tr[data-flow-id="{flow_id}"]')
            expect(row).to_have_count(1, timeout=10_000)
            expect(row.locator("td.label")).to_have_text(answer["prediction"])
            expect(row.locator("td.flow")).to_have_text(flow_id)
            expect(page.locator("#flow-count")).not_to_have_text("0")
            rate = "0.0 %" if answer["prediction"] == "BENIGN" else "100.0 %"  # the only flow of its minute
            expect(page.locator("#attack-rate")).to_have_text(rate)
        finally:
            browser.close()
