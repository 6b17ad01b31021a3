"""The dashboard and /docs in a real headless Chromium: they render from Sluice's own
assets, their numbers match the API, a retry from the page requeues the work. Each
run saves screenshots under tests/artifacts/."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.testing import SluiceProcess, SluiceStarter
from tests.service.buckets.helpers import deposit, new_work, withdraw
from tests.service.dashboard.browser import Browser, find_chromium
from tests.service.factories import work

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable, why = find_chromium()
    if executable is None:
        print(f"skipping the browser tests: {why}")
        pytest.skip(why)
    opened = Browser(executable)
    yield opened
    opened.close()


@pytest.fixture
def server(start_sluice: SluiceStarter) -> SluiceProcess:
    return start_sluice("dashboard")


def test_dashboard_shows_the_api_and_retries(browser: Browser, server: SluiceProcess) -> None:
    pipeline = f"dash-{uuid.uuid4().hex[:6]}"
    with httpx.Client(base_url=server.url, timeout=30) as http:
        deposit(http, [new_work(pipeline) for _ in range(3)])
        failed, lease = withdraw(http, {"pipeline": pipeline})
        assert failed is not None and lease is not None
        report = {**failed, "status": "failure", "stop": time.time(),
                  "results": {"error": "no beam today"}}  # fmt: skip
        assert http.put("/buckets/work", json=[report], headers={"X-Sluice-Lease": lease}).json()
        running, _ = withdraw(http, {"pipeline": pipeline})
        assert running is not None
        beat = {"name": "lab-1", "host": "node-9", "pid": 7, "pipelines": [pipeline],
                "site": "local", "version": "1",
                "current": {"id": running["id"], "pipeline": pipeline, "attempt": 1,
                            "started": time.time()}}  # fmt: skip
        assert http.put(f"/buckets/workers/{uuid.uuid4().hex}", json=beat).status_code == 200
        stored = [work(pipeline, results={"snr": 12.5 + n}) for n in range(3)]
        assert http.post("/results/results", json=stored).status_code == 200

        browser.open(f"{server.url}/", "document.body.dataset.ready === '1'")
        cells = browser.evaluate(
            "Object.fromEntries([...document.querySelectorAll('#queues td[data-status]')]"
            ".map(td => [td.dataset.pipeline + '/' + td.dataset.status, td.textContent]))"
        )
        details = http.get(f"/buckets/status/details/{pipeline}").json()
        for status in ("queued", "running", "success", "failure", "total"):
            assert cells[f"{pipeline}/{status}"] == str(details[status]), status
        text = browser.evaluate("document.body.innerText")
        assert "no beam today" in text and "lab-1" in text and "node-9" in text
        assert running["id"] in browser.evaluate("document.querySelector('#running').innerText")
        assert "12.5" in text and "results.snr" in text and "showing 3 of 3" in text
        browser.evaluate(
            "(() => { const s = document.getElementById('results-search'); s.value = '13.5';"
            " s.dispatchEvent(new Event('input')); })()"
        )
        rows = browser.evaluate("document.querySelectorAll('#results tbody tr').length")
        assert rows == 1, "the search keeps only the matching result"
        ARTIFACTS.mkdir(exist_ok=True)
        browser.screenshot(ARTIFACTS / "dashboard.png")

        # A retry from the page queues the failed work again.
        browser.evaluate(f"document.querySelector('[data-retry=\"{failed['id']}\"]').click()")
        deadline = time.monotonic() + 15
        while (
            http.post("/buckets/view", json={"query": {"id": failed["id"]}}).json()[0]["status"]
            != "queued"
        ):
            assert time.monotonic() < deadline, "the retry did not requeue the work"
            time.sleep(0.2)
    outside = [url for url in browser.requested if not url.startswith((server.url, "data:"))]
    assert outside == [], "every asset comes from Sluice itself"


def test_docs_render_offline(browser: Browser, server: SluiceProcess) -> None:
    browser.open(f"{server.url}/docs", "document.querySelector('.swagger-ui .info .title')")
    title = browser.evaluate("document.querySelector('.swagger-ui .info .title').innerText")
    assert "Sluice" in title
    assert browser.evaluate("document.querySelectorAll('.opblock').length") > 20
    browser.screenshot(ARTIFACTS / "docs.png", whole=False)
    outside = [url for url in browser.requested if not url.startswith((server.url, "data:"))]
    assert outside == [], "Swagger UI comes from Sluice itself"
    assert f"{server.url}/docs/assets/swagger-ui-bundle.js" in browser.requested
