"""The web UI in headless Chromium (Debian's package, driven by playwright) against a running job."""

from __future__ import annotations

import os
import shutil

import pytest
from test_rest_endpoint import running_job

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# the flags this machine's closed network needs (no background connections, no sandbox as root)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is missing: apt-get install chromium (.ci/run installs it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def test_the_job_graph_renders_with_live_numbers_and_a_savepoint_completes_from_the_page(browser, tmp_path):
    job = running_job(tmp_path, "web-ui-job")
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(job.get_rest_url() + "/")
        page.get_by_text("web-ui-job").first.wait_for(timeout=60_000)
        page.locator(f'#jobs li[data-jid="{job.job_id}"]').click()
        # the graph draws the job's vertices with their names and, once records flow, their rates
        page.wait_for_function(
            """() => [...document.querySelectorAll('#graph .vname')].some(t => t.textContent.startsWith('gen'))""",
            timeout=60_000)
        page.wait_for_function(
            """() => [...document.querySelectorAll('#graph .rates')].some(t => /out [1-9][0-9.]*K?\\/s/.test(t.textContent))""",
            timeout=60_000)
        names = page.locator("#graph .vname").all_text_contents()
        assert len(names) == 2 and any(n.startswith("gen") for n in names)
        page.wait_for_function("() => document.querySelector('#tab-checkpoints table tbody tr') !== null",
                               timeout=60_000)
        page.fill("#savepoint-dir", f"file://{tmp_path}/sp")
        page.click("#btn-savepoint")
        page.wait_for_function("() => document.querySelector('#action-result').textContent.includes('completed')",
                               timeout=120_000)
        text = page.locator("#action-result").text_content()
        assert f"file://{tmp_path}/sp" in text and "failed" not in text
        assert os.path.exists(os.path.join(tmp_path, "sp", "_metadata"))
        screenshot = os.environ.get("RAYFLINK_WEB_UI_SCREENSHOT")
        if screenshot:
            page.screenshot(path=screenshot)
    finally:
        job.cancel()
