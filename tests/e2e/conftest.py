"""Browser fixtures: a real PTAP server on a free port and headless Debian Chromium.

The server helpers are plain functions so that `bench/screenshots.py` can reuse them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pyotp
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

from ptap.demo import demo_password, demo_totp_secret

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
BIN = Path(sys.executable).parent
#: The served demo data derives its secrets from this seed (random otherwise, and shown once).
DEMO_SEED = "e2e-browser-tests"
DEMO_PASSWORD = demo_password(DEMO_SEED)


@dataclass
class LiveServer:
    """A PTAP server running in a subprocess."""

    url: str
    process: subprocess.Popen[bytes]
    workdir: tempfile.TemporaryDirectory[str]
    log_file: IO[bytes]

    def log(self) -> str:
        """What the server printed so far."""
        return (Path(self.workdir.name) / "server.log").read_text(errors="replace")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PTAP_", "FLASK_"))}
    env.update(
        PTAP_ENV="development",
        PTAP_DATABASE_URL=database_url,
        PTAP_SCHEDULER_IN_PROCESS="false",
        PTAP_LOGIN_RATE_LIMIT="1000 per minute",
        PTAP_DEMO_SEED=DEMO_SEED,
        PYTHONUNBUFFERED="1",
    )
    return env


def start_server(timeout: float = 30.0) -> LiveServer:
    """Create a temporary SQLite database with the demo data and serve it; wait for /healthz."""
    workdir = tempfile.TemporaryDirectory(prefix="ptap-e2e-")
    folder = Path(workdir.name)
    env = server_env(f"sqlite:///{folder / 'ptap.sqlite3'}")
    for command in (["db", "upgrade"], ["demo"]):
        done = subprocess.run(
            [str(BIN / "ptap"), *command], env=env, cwd=ROOT, capture_output=True, text=True
        )
        if done.returncode != 0:
            workdir.cleanup()
            raise RuntimeError(f"`ptap {' '.join(command)}` failed:\n{done.stdout}{done.stderr}")
    port = free_port()
    log_path = folder / "server.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [str(BIN / "ptap"), "run", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = LiveServer(f"http://127.0.0.1:{port}", process, workdir, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stop_server(server)
            raise RuntimeError(f"the PTAP server exited ({process.returncode}):\n{server.log()}")
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    text = server.log()
    stop_server(server)
    raise RuntimeError(f"the PTAP server did not answer /healthz in {timeout} s:\n{text}")


def stop_server(server: LiveServer) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    server.log_file.close()
    server.workdir.cleanup()


_used_steps: dict[str, int] = {}


def totp_code(email: str) -> str:
    """A fresh TOTP code for a demo account; never the same step twice (replay protection)."""
    current = int(time.time() // 30)
    step = max(current, _used_steps.get(email, current - 1) + 1)
    if step > current + 1:
        time.sleep((step - 1) * 30 - time.time() + 0.5)
    _used_steps[email] = step
    return pyotp.TOTP(demo_totp_secret(email, DEMO_SEED)).at(step * 30)


def login(page: Page, base_url: str, email: str, password: str = DEMO_PASSWORD) -> None:
    """Log in through both forms, as a person would, and wait for the home page (the
    analysts' home is the monitoring page)."""
    page.goto(f"{base_url}/login")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Continuer").click()
    page.wait_for_url("**/login/second-factor")
    page.get_by_label("Code à 6 chiffres ou code de secours").fill(totp_code(email))
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(lambda url: url in (f"{base_url}/", f"{base_url}/monitoring"))


def require_chromium() -> None:
    """Skip without Debian's Chromium; in CI (CI=true) a missing browser is a failure."""
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run in CI: {message}")
    pytest.skip(message)


def launch_chromium(playwright: Playwright) -> Browser:
    """Launch the system Chromium headless (never a Playwright-downloaded browser)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


# Records Content-Security-Policy violations the page itself sees (init scripts bypass the CSP).
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


class PageProblems:
    """Console errors, uncaught exceptions and CSP violations seen by one page."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def csp_violations(self) -> list[str]:
        seen = self.page.evaluate("window.__cspViolations || []")
        logged = [m for m in self.console_errors if "Content Security Policy" in m]
        return [*seen, *logged]

    def all(self) -> list[str]:
        return [*self.console_errors, *self.page_errors, *self.csp_violations()]


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    require_chromium()
    server = start_server()
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def base_url(live_server: LiveServer) -> str:
    return live_server.url


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    require_chromium()
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 800})
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def problems(page: Page) -> PageProblems:
    return PageProblems(page)
