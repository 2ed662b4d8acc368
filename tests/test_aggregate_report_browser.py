"""report.html in a real browser: Debian's headless Chromium, driven by chromedriver through
selenium. The page renders, every embedded plot decodes (naturalWidth > 0), the console
stays clean. Chromium missing is a failure, not a skip: CI installs it (.ci/run)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from dmsweep.aggregate import aggregate
from dmsweep.aggregate.synthetic import make_results

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1300,900",
)
IMAGES = """Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth,
    i.getBoundingClientRect().width])"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Chromium with a fresh profile (the network is closed: nothing to fetch)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: apt-get install -y chromium chromium-driver")
    try:
        from selenium import webdriver
    except ImportError:
        pytest.fail("selenium missing: pip install -e '.[dev]'")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=str(CHROMEDRIVER))  # no Selenium Manager
    driver = webdriver.Chrome(options=options, service=service)
    yield driver
    driver.quit()


def finished_loading(driver, timeout_s: float = 60.0) -> bool:
    """Whether the page reaches readyState complete: a loaded CI machine can return from
    `get` before the last decode is done (seen once in CI), so poll instead of asking once."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(driver, timeout_s).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )
    except TimeoutException:
        return False
    return True


def page_problems(driver, page: Path) -> list[str]:
    """Everything wrong with `page` as the browser sees it (empty: it rendered cleanly)."""
    driver.get(page.resolve().as_uri())
    problems = []
    if not finished_loading(driver):
        problems.append("page did not finish loading")
    for alt, complete, natural_width, shown_width in driver.execute_script(f"return {IMAGES}"):
        if not complete or natural_width == 0 or shown_width == 0:
            problems.append(f"image {alt!r} did not load")
    for entry in driver.get_log("browser"):
        if entry["level"] in ("SEVERE", "WARNING"):
            problems.append(f"console {entry['level']}: {entry['message']}")
    return problems


def screenshot(driver, path: Path) -> Path:
    """The whole page as PNG (beyond the window), for a person to look at."""
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    make_results(root / "results", train_fractions=(0.25, 1.0), faults={"failed": 2})
    result = aggregate(root / "results", workers=1)
    return result.out / "report.html"


def test_report_renders_with_every_plot_in_chromium(browser, report: Path) -> None:
    assert page_problems(browser, report) == []
    assert browser.title.startswith("dmsweep summary")
    n_plots = len(list((report.parent / "plots").glob("*.png")))
    images = browser.execute_script(f"return {IMAGES}")
    assert n_plots >= 9 and len(images) == n_plots
    assert browser.find_element("css selector", ".complete").text.endswith("2 failed")
    shot = screenshot(browser, report.parent / "report-screenshot.png")
    assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 50_000


def test_a_broken_page_is_caught(browser, tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><body><img alt="plot" src="data:image/png;base64,AAAA">'
        "<script>console.error('boom')</script></body></html>"
    )
    problems = page_problems(browser, page)
    assert "image 'plot' did not load" in problems
    assert any("boom" in p for p in problems)
