"""Browser fixtures: Debian's chromium driven by Playwright against pytest-django's live server.

Nothing is downloaded: the browser is /usr/bin/chromium (`make browser` installs it from Debian). Every
request the page makes to anything but the live server is refused and recorded, so a test can assert that a
page renders without the network. Screenshots go to test-artifacts/ (gitignored).
"""

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

# The moto_server fixtures, for the end-to-end tests of backups on S3.
from tests.backups.conftest import moto_endpoint, moto_s3  # noqa: F401

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
PASSWORD = "pw-for-tests-only"  # the builders' password
# Every visible element's right edge against the viewport's width, and every element that scrolls sideways
# (its content wider than its box): either means the page does not fit.
OVERFLOW_CHECK = """() => {
  const width = document.documentElement.clientWidth;
  const found = [];
  for (const element of document.querySelectorAll("body *")) {
    const box = element.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    const css = typeof element.className === "string" ? element.className.split(" ")[0] : "";
    const id = element.id ? "#" + element.id : "";
    const name = element.tagName.toLowerCase() + id + (css ? "." + css : "");
    if (box.right > width + 1) found.push(name + " ends at " + Math.round(box.right) + " px of " + width);
    const style = getComputedStyle(element);
    if (["auto", "scroll"].includes(style.overflowX) && element.scrollWidth > element.clientWidth + 1) {
      found.push(name + " scrolls: " + element.scrollWidth + " px in " + element.clientWidth);
    }
  }
  return found;
}"""


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make browser)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread while the browser lives; the ORM
    # calls tests make between browser steps are plain synchronous code, which Django would otherwise
    # refuse next to a running loop. Only for this module: the setting must not leak into other tests.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Browsing:
    """One browser tab on the live server, the requests it tried to send elsewhere, and its screenshots."""

    def __init__(self, page, base_url: str, test_name: str) -> None:
        self.page = page
        self.base_url = base_url
        self.test_name = re.sub(r"[^\w.-]+", "_", test_name)
        self.external_requests: list[str] = []
        self.console_errors: list[str] = []

    def open(self, path: str):
        response = self.page.goto(self.base_url + path)
        return response

    def log_in(self, username: str, password: str = PASSWORD) -> None:
        self.open("/admin/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.page.click("input[type=submit]")
        self.page.wait_for_url(re.compile(r".*/admin/$"))

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{self.test_name}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def docs_screenshot(self, name: str, *, full_page: bool = False) -> Path:
        """The page (by default its visible part) as docs/operations.md shows it: copy
        test-artifacts/docs/NAME.png to docs/img/ when the page changes."""
        (ARTIFACTS / "docs").mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / "docs" / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def overflowing(self) -> list[str]:
        """Elements wider than the viewport, or scrolling sideways inside it (compared widths, no pixels)."""
        return self.page.evaluate(OVERFLOW_CHECK)


@pytest.fixture
def browsing(browser, live_server, request) -> Iterator[Browsing]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = Browsing(context.new_page(), live_server.url, request.node.name)

    def only_the_live_server(route) -> None:
        if route.request.url.startswith(live_server.url) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            tab.external_requests.append(route.request.url)
            route.abort()

    def console(message) -> None:
        if message.type == "error":
            tab.console_errors.append(message.text)

    context.route("**/*", only_the_live_server)
    tab.page.on("console", console)
    yield tab
    context.close()
