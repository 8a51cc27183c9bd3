"""The dashboard in a real headless browser (Debian's chromium driven by Playwright) while
the demo recording plays at its own pace: the live picture moves, the verdict and the
counters follow the line, a failed part's thumbnail opens, an SPC alarm is acknowledged
(refused first with a wrong token), and the history page finds a part. A screenshot of
the live page is left in the artifacts folder (INSPECTOR_ARTIFACTS, else .work/artifacts)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.web.running import Running, running_demo

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TOKEN = "browser-token"
ARTIFACTS = Path(
    os.environ.get("INSPECTOR_ARTIFACTS", Path(__file__).parents[2] / ".work/artifacts")
)


@pytest.fixture
def running(tmp_path: Path):
    if not Path(CHROMIUM).is_file():
        pytest.fail("chromium is missing: make system-deps installs it")
    (tmp_path / "token").write_text(TOKEN)
    # SPC with small subgroups, so that its charts have points within seconds
    spc = {"enabled": True, "subgroup_size": 2, "baseline_subgroups": 5}
    with running_demo(
        tmp_path / "log", fast=False, token_file=tmp_path / "token", spc=spc
    ) as running:
        yield running


@pytest.fixture
def page(running: Running):
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


def _until(check, timeout: float = 30.0, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not seen within {timeout} s")


def test_live_page_follows_the_line(running: Running, page):
    page.goto(running.url)
    live = page.locator("#live")
    _until(lambda: page.eval_on_selector("#live", "img => img.naturalWidth") > 0, what="picture")
    first = live.screenshot()
    _until(lambda: live.screenshot() != first, what="the live picture changing")

    parts = int(page.inner_text("#parts"))
    seen = set()

    def both_verdicts() -> bool:
        seen.add(page.inner_text("#verdict"))
        return {"PASS", "FAIL"} <= seen

    _until(both_verdicts, timeout=40, what="both PASS and FAIL shown")
    assert int(page.inner_text("#parts")) > parts
    assert int(page.inner_text("#fails")) > 0
    assert page.inner_text("#fail-rate").endswith("%")

    thumb = page.locator("#fails-list img.thumb").first
    seq = thumb.get_attribute("data-seq")
    thumb.click()
    page.wait_for_selector("#detail[open]")
    assert f"#{seq}" in page.inner_text("#detail-title")
    _until(lambda: page.eval_on_selector("#detail-img", "i => i.naturalWidth") > 0, what="enlarged")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.keyboard.press("Escape")

    alarm = running.open_alarm()
    page.wait_for_selector(f".alarm[data-id='{alarm}']")
    page.fill("#token", "wrong")
    page.dispatch_event("#token", "change")
    page.click("#ack")
    _until(lambda: "403" in page.inner_text("#ack-result"), what="a wrong token refused")
    page.screenshot(path=ARTIFACTS / "dashboard-live.png", full_page=True)
    page.fill("#token", TOKEN)
    page.dispatch_event("#token", "change")
    page.click("#ack")
    _until(lambda: " acknowledged" in page.inner_text("#ack-result"), what="acknowledged")
    page.wait_for_selector(f".alarm[data-id='{alarm}']", state="detached")
    assert running.station.stats.no_decision == 0


def test_history_page_shows_a_failed_part(running: Running, page):
    running.wait_for(lambda: running.station.stats.failed > 0)
    time.sleep(0.5)  # the log thread links the failed part's image
    page.goto(running.url + "history")
    page.select_option("select[name=verdict]", "FAIL")
    page.click("button[type=submit]")
    row = page.locator("#rows tr").first
    row.wait_for()
    assert "FAIL" in row.inner_text()
    row.click()
    page.wait_for_selector("#part dl.part")
    text = page.inner_text("#part")
    assert "model sha256" in text and "config hash" in text
    if page.locator("#part img").count():
        _until(lambda: page.eval_on_selector("#part img", "i => i.naturalWidth") > 0, what="image")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "dashboard-history.png", full_page=True)
