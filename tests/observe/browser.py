"""Debian's chromium driven by Selenium through Debian's chromedriver (the same build), headless,
with a fresh profile. Selenium blocks: tests call these methods through ``asyncio.to_thread``
so the gateway in the test's loop keeps serving."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import (
    NoAlertPresentException,
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
SCREENS = Path(__file__).parents[1] / "artifacts" / "screens"  # gitignored; CI keeps them
WAIT_S = 30.0
STALE_RETRIES = 5  # the page's live part is swapped every few seconds: look again
LOAD_TRIES = 3  # chromedriver: "Timed out receiving message from renderer": load again
PHONE = (390, 844)  # CSS pixels of a common phone screen
DESKTOP = (1280, 1000)


class Browser:
    def __init__(self) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="modemd-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (
            "--headless=new",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--disable-quic",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={self._profile.name}",
            f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
        ):
            options.add_argument(flag)
        # "eager": a page counts as loaded at DOMContentLoaded; every test waits for the
        # element it needs anyway. With "normal", chromedriver waits for the load event too,
        # and on a loaded machine the renderer's answer can miss the page-load timeout
        # ("Timed out receiving message from renderer"), seen in 2 of 6 loaded full runs.
        options.page_load_strategy = "eager"
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(WAIT_S)

    def close(self) -> None:
        self.driver.quit()
        self._profile.cleanup()

    def open(self, url: str) -> None:
        for attempt in range(1, LOAD_TRIES + 1):
            try:
                self.driver.get(url)
                return
            except TimeoutException:
                if attempt == LOAD_TRIES:
                    raise
                # The same renderer tends to time out again (seen: every try answered
                # "Timed out receiving message from renderer: -0.006"): load in a new tab.
                with contextlib.suppress(WebDriverException):
                    self.driver.switch_to.new_window("tab")

    def sign_in(self, base: str, token: str) -> None:
        self.open(base + "/console/")
        self.wait_for("#login")
        self.driver.find_element(By.NAME, "token").send_keys(token)
        self.driver.find_element(By.CSS_SELECTOR, "#login button").click()
        self.wait_for("#devices")

    def _wait(self) -> WebDriverWait:
        return WebDriverWait(
            self.driver, WAIT_S, ignored_exceptions=(StaleElementReferenceException,)
        )

    def wait_for(self, css: str) -> WebElement:
        return self._wait().until(lambda d: d.find_element(By.CSS_SELECTOR, css))

    def wait_until_text(self, css: str, text: str) -> None:
        """Wait (the page refreshes itself) until ``css`` contains ``text``."""
        self._wait().until(
            lambda d: any(text in e.text for e in d.find_elements(By.CSS_SELECTOR, css))
        )

    def text_of(self, css: str) -> str:
        return self._wait().until(lambda d: d.find_element(By.CSS_SELECTOR, css).text)

    def attrs(self, css: str, name: str) -> list[str | None]:
        """Attribute ``name`` of every element matching ``css`` (read again if swapped)."""
        for _ in range(STALE_RETRIES):
            try:
                found = self.driver.find_elements(By.CSS_SELECTOR, css)
                return [e.get_attribute(name) for e in found]
            except StaleElementReferenceException:
                continue
        raise AssertionError(f"{css} kept going stale")

    def click(self, css: str) -> None:
        for _ in range(STALE_RETRIES):
            try:
                self.wait_for(css).click()
                return
            except StaleElementReferenceException:
                continue  # swapped by the refresh between finding and clicking
        raise AssertionError(f"{css} kept going stale")

    def type(self, css: str, text: str) -> None:
        self.wait_for(css).send_keys(text)

    def replace_text(self, css: str, text: str) -> None:
        field = self.wait_for(css)
        field.clear()
        field.send_keys(text)

    def alert(self) -> str | None:
        """The text of an open JavaScript alert (a script that ran), None when there is none."""
        try:
            return self.driver.switch_to.alert.text
        except NoAlertPresentException:
            return None

    def title(self) -> str:
        return self.driver.title

    def bars(self, chart: str) -> dict[tuple[str, str], int]:
        """The chart's bars: (label, series) -> the number the bar carries. Read in one script
        run, between two of the page's refreshes: element by element (four WebDriver calls a
        bar) the reading outlasted a refresh on a loaded machine and kept going stale."""
        rows = self.driver.execute_script(
            """return Array.from(document.querySelectorAll(arguments[0])).map(rect => [
                rect.getAttribute("data-label"), rect.getAttribute("data-series"),
                rect.getAttribute("data-value"),
                (rect.querySelector("title") || {}).textContent]);""",
            f"#{chart} rect.bar",
        )
        found = {}
        for label, series, value_text, title in rows:
            value = int(value_text or -1)
            assert title == f"{label} {series}: {value}"  # what a screen reader says
            found[(str(label), str(series))] = value
        return found

    def screenshot(self, name: str, size: tuple[int, int] = DESKTOP) -> Path:
        """A PNG of the page at ``size`` (CSS pixels), saved under tests/artifacts/screens."""
        SCREENS.mkdir(parents=True, exist_ok=True)
        self.driver.set_window_size(*size)
        path = SCREENS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(*DESKTOP)
        print(f"screenshot: {path}")
        return path
