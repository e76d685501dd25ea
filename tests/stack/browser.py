"""The Prefect UI in a real browser: Debian's Chromium and chromedriver, headless, by selenium.

`make browser` installs both (`make test` does it first). A missing one fails the test that asks
for it, with the command to run; it is never a skip.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

# How long the UI may take to render a page (a deadline, not an expectation of speed).
PAGE_DEADLINE_S = 30
WINDOW = (1600, 900)


class NotShown(AssertionError):
    """The UI did not show what the test looks for."""


@contextmanager
def chromium() -> Iterator[WebDriver]:
    """Yield a headless Chromium driven through Debian's chromedriver (no download, no network
    but loopback: Selenium Manager is not involved when both paths are given)."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.fail("Chromium or chromedriver is missing: run `make browser` (Debian packages)")
    options = Options()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in a container: Chromium's sandbox needs user namespaces
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    session = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    try:
        yield session
    finally:
        session.quit()


def _wait(session: WebDriver, locator: tuple[str, str], what: str) -> None:
    try:
        WebDriverWait(session, PAGE_DEADLINE_S).until(ec.element_to_be_clickable(locator))
    except TimeoutException:
        raise NotShown(f"{what} is not shown at {session.current_url}") from None


def open_artifact_from_run(session: WebDriver, ui_url: str, flow_run_id: str, key: str) -> None:
    """Open the flow-run page, its Artifacts tab, and there the artifact card `key`."""
    session.get(f"{ui_url}/runs/flow-run/{flow_run_id}")
    tab = (By.CSS_SELECTOR, "li.p-tab#artifacts")
    _wait(session, tab, "the Artifacts tab")
    session.find_element(*tab).click()
    # The tab lists the run's artifacts as cards: wait for them, then look for `key` among them.
    titles = (By.CSS_SELECTOR, "section#artifacts-content .artifact-card__title")
    _wait(session, titles, "an artifact on the run's Artifacts tab")
    cards = {title.text.strip(): title for title in session.find_elements(*titles)}
    if key not in cards:
        raise NotShown(
            f"artifact {key} is not on the Artifacts tab of {session.current_url}: "
            f"it shows {sorted(cards)}"
        )
    cards[key].click()


def rendered_table(session: WebDriver) -> list[dict[str, str]]:
    """Return the rows of the table artifact the page renders, as header -> cell text."""
    _wait(session, (By.CSS_SELECTOR, "table tbody tr"), "a table artifact")
    table = session.find_element(By.TAG_NAME, "table")
    headers = [th.text.strip() for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
    rows = []
    for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr"):
        cells = [td.text.strip() for td in tr.find_elements(By.TAG_NAME, "td")]
        rows.append(dict(zip(headers, cells, strict=True)))
    return rows


def screenshot(session: WebDriver, path: Path) -> None:
    """Save the page as a PNG at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not session.save_screenshot(str(path)):
        raise NotShown(f"no screenshot could be saved to {path}")
