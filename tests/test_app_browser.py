"""The Streamlit app in a real browser: Debian's Chromium driven by Playwright.

Starts ``streamlit run app.py`` on a free loopback port with the small place, then does what
a person would: opens the page, changes a number, presses Run, downloads the config, uploads
a broken config and then the downloaded one. Screenshots go to test-output/app/; with
CARESIM_DOCS_IMAGES=1 the good ones are also copied to docs/images/ for docs/app.md.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from sim.config import parse, to_yaml

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "test-output" / "app"
DOCS_IMAGES = ROOT / "docs" / "images"
START_TIMEOUT_S = 120
FIRST_RESULTS_TIMEOUT_MS = 600_000  # a fresh checkout compiles the fast engine on the first run
RUN_TIMEOUT_MS = 300_000
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian's Chromium is not installed (apt-get install -y chromium)"),
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    """The app served on 127.0.0.1, started from configs/small.yaml; stopped afterwards."""
    port = free_port()
    env = dict(os.environ, CARESIM_APP_CONFIG="configs/small.yaml")
    SHOTS.mkdir(parents=True, exist_ok=True)
    log = (SHOTS / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + START_TIMEOUT_S
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"streamlit exited with {process.returncode}; see {SHOTS / 'server.log'}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                pytest.fail(f"streamlit did not answer on {url} within {START_TIMEOUT_S} s")
            time.sleep(0.5)
        yield url
    finally:
        # The server and any worker processes it forked share its session: end them together.
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


@pytest.fixture
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 1600}, accept_downloads=True)
        page = context.new_page()
        page.problems = []  # page errors, console errors and requests off this machine
        page.on("pageerror", lambda exc: page.problems.append(f"page error: {exc}"))
        page.on("console", lambda msg: msg.type == "error" and page.problems.append(f"console: {msg.text}"))
        page.on("request", lambda req: urlparse(req.url).hostname not in ("127.0.0.1", None)
                and req.url.startswith("http") and page.problems.append(f"request off loopback: {req.url}"))
        yield page
        context.close()
        browser.close()


def shot(page, name: str) -> Path:
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def card_values(page) -> list[str]:
    return page.locator("[class*='st-key-card_'] [data-testid='stMetricValue']").all_inner_texts()


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()
    page.wait_for_timeout(800)  # let plotly draw before a screenshot


def test_a_person_compares_changes_runs_downloads_and_uploads(server, page, tmp_path):
    from playwright.sync_api import expect

    page.goto(server)
    expect(page.locator(".st-key-card_4 [data-testid='stMetricValue']").first).to_be_visible(
        timeout=FIRST_RESULTS_TIMEOUT_MS)
    expect(page.get_by_text("Done: 5 replications of 5 arms")).to_be_visible()
    expect(page.get_by_role("button", name="Report (HTML)")).to_be_visible()  # the page is complete
    assert page.locator("[data-testid='stException']").count() == 0
    first = card_values(page)
    assert len(first) == 30 and all(any(ch.isdigit() for ch in v) for i, v in enumerate(first) if i != 1)
    good = {"comparison": shot(page, "01-comparison")}
    for i, tab in enumerate(("Over the years", "Money", "Hospital and discharge", "Localities", "Chances"), 2):
        open_tab(page, tab)
        expect(page.locator(".js-plotly-plot:visible").first).to_be_visible()
        good[tab] = shot(page, f"0{i}-{tab.lower().replace(' ', '-')}")

    # Change the place: more people means more admissions, once Run is pressed.
    open_tab(page, "Change the place")
    size = page.get_by_label("People in the place (people)")
    size.fill("6000")
    size.press("Enter")
    expect(page.get_by_text("The inputs have changed")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    good["place"] = shot(page, "07-change-the-place")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.get_by_text("The inputs have changed")).to_have_count(0, timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_text("Done: 5 replications of 5 arms")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    after = card_values(page)
    assert after != first and after[0] != first[0]  # the status quo's admissions moved

    open_tab(page, "Change the care models")
    page.get_by_role("tab", name="GP-led wellbeing hubs", exact=True).click()
    page.wait_for_timeout(500)
    good["models"] = shot(page, "08-change-the-care-models")

    # Download the config: it holds the change and loads back to itself.
    with page.expect_download() as download:
        page.get_by_role("button", name="This config (YAML)").click()
    saved = tmp_path / "downloaded.yaml"
    download.value.save_as(saved)
    text = saved.read_text(encoding="utf-8")
    assert parse(text).population.size == 6000 and to_yaml(parse(text)) == text

    # The results and the report, made when asked for.
    with page.expect_download(timeout=RUN_TIMEOUT_MS) as download:
        page.get_by_role("button", name="Results (CSV)").click()
    csv = tmp_path / "results.csv"
    download.value.save_as(csv)
    lines = csv.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "arm,replication,year,measure,detail,value" and len(lines) > 1000
    with page.expect_download(timeout=RUN_TIMEOUT_MS) as download:
        page.get_by_role("button", name="Report (HTML)").click()
    report = tmp_path / "report.html"
    download.value.save_as(report)
    body = report.read_text(encoding="utf-8")
    assert body.startswith("<!DOCTYPE html>") and "Cost-effectiveness plane" in body

    # A broken upload: its problems are shown by key and line, Run is off, results stay.
    uploader = page.locator("[data-testid='stFileUploaderDropzoneInput']")
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("when_full: escalate", "when_full: sometimes"), encoding="utf-8")
    uploader.set_input_files(str(broken))
    expect(page.get_by_text("The uploaded config can't be used")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_text("services.acute_beds.when_full").first).to_be_visible()
    expect(page.get_by_role("button", name="Run", exact=True)).to_be_disabled()
    open_tab(page, "Comparison")
    assert card_values(page) == after
    good["bad upload"] = shot(page, "09-bad-upload")

    # The downloaded config uploaded again: Run is back, and nothing has changed.
    uploader.set_input_files(str(saved))
    expect(page.get_by_text("The uploaded config can't be used")).to_have_count(0, timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_role("button", name="Run", exact=True)).to_be_enabled()
    expect(page.get_by_text("Starting from downloaded.yaml", exact=False)).to_be_visible()
    assert page.get_by_text("The inputs have changed").count() == 0
    assert card_values(page) == after

    open_tab(page, "About the model")
    expect(page.get_by_text("How a person moves through the model")).to_be_visible()
    good["about"] = shot(page, "10-about")

    assert page.locator("[data-testid='stException']").count() == 0
    assert not page.problems, page.problems
    if os.environ.get("CARESIM_DOCS_IMAGES") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        for path in good.values():
            shutil.copyfile(path, DOCS_IMAGES / path.name)
