"""Fixtures and helpers for the page's tests (tests/server/test_page*.py): Debian's Chromium driven
by Playwright against a real `segue serve` on 127.0.0.1 with the shipped model. Loaded as a
plugin by tests/conftest.py. Screenshots go to out/screenshots/.

Without Chromium these tests are skipped on a developer's machine, but under CI (CI=true) they
fail instead (CI set to any true value): there they must run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import in_ci

from segue.midi_io import read_midi

CHROMIUM = Path(os.environ.get("SEGUE_CHROMIUM", "/usr/bin/chromium"))
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "out" / "screenshots"
WHITE_KEYS = "asdfghjk"  # C D E F G A B C on the computer keyboard


@pytest.fixture(scope="session")
def server_url():
    segue = Path(sys.executable).with_name("segue")
    process = subprocess.Popen([str(segue), "serve", "--port", "0"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        line = process.stdout.readline()
        assert "running at http://127.0.0.1:" in line, line + process.stdout.read()
        url = line.split("running at ")[1].split()[0].rstrip("/")
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/health", timeout=5) as response:
                    assert json.load(response)["status"] == "ok"
                    break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "segue serve did not answer"
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


# Per module: Playwright's sync API keeps an event loop running while it is open, and later
# tests that start their own (asyncio.run) must not meet it. One per module also means that a module
# launching a second browser (other flags) does so through this one.
@pytest.fixture(scope="module")
def playwright_driver():
    if not CHROMIUM.exists():
        message = f"Chromium not found at {CHROMIUM} (`scripts/install-system-packages browser` installs it)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


def launch(playwright, *extra_args):
    """Debian's Chromium, headless, with the page tests' FLAGS and `extra_args`."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[*FLAGS, *extra_args])


@pytest.fixture(scope="module")
def browser(playwright_driver):
    browser = launch(playwright_driver)
    yield browser
    browser.close()


# Web MIDI without devices: an in-memory MIDIAccess whose ports the test plugs in and plays, and
# whose outputs record what the page sends.
FAKE_WEB_MIDI = """
(() => {
  const access = { inputs: new Map(), outputs: new Map(), onstatechange: null, sysexEnabled: false };
  const sent = [];
  const changed = (port) => access.onstatechange && access.onstatechange({ port });
  window.fakeMidi = {
    sent,
    plugInput(id, name) {
      const port = { id, name, type: "input", state: "connected", onmidimessage: null };
      access.inputs.set(id, port); changed(port);
    },
    unplugInput(id) { const port = access.inputs.get(id); access.inputs.delete(id); changed(port); },
    plugOutput(id, name) {
      const port = { id, name, type: "output", state: "connected",
        send: (data, timestamp) => sent.push({ data: [...data], late: (timestamp ?? performance.now()) - performance.now() }),
        clear: () => sent.push({ clear: true }) };
      access.outputs.set(id, port); changed(port);
    },
    play(id, data) {
      const port = access.inputs.get(id);
      if (port.onmidimessage) port.onmidimessage({ data: new Uint8Array(data) });
    },
  };
  window.fakeMidi.plugInput("keys-1", "Test Keyboard");
  Object.defineProperty(navigator, "requestMIDIAccess", { value: async () => access, configurable: true });
})();
"""


@contextmanager
def open_page(browser, server_url, every_console_error=False, **context_options):
    """The page in a new browser context, ready (the model answered); on leaving, no JavaScript
    errors may have happened: none thrown, none from the Content-Security-Policy (which would block
    inline code or other origins: none may be needed) and, with `every_console_error`, no console
    error at all but for the failed requests a test provoked."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1100, "height": 1000}, **context_options)
    context.add_init_script(FAKE_WEB_MIDI)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def console(message):
        if message.type != "error":
            return
        if "Content Security Policy" in message.text or (
                every_console_error and not message.text.startswith("Failed to load resource")):
            errors.append(message.text)

    page.on("console", console)
    try:
        page.goto(server_url)
        page.wait_for_function("() => document.getElementById('model-status').textContent.includes('ready')")
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(browser, server_url):
    with open_page(browser, server_url) as page:
        yield page


def screenshot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def roll(page, field):
    return int(page.get_attribute("#roll", f"data-{field}-notes"))


def type_notes(page, keys, spacing_ms=350, held_ms=250):
    for key in keys:
        page.keyboard.down(key)
        page.wait_for_timeout(held_ms)
        page.keyboard.up(key)
        page.wait_for_timeout(spacing_ms - held_ms)


def stop_playing(page):
    """Press Play again to stop, if it is still playing (checked and pressed in one step in the page,
    so a playback ending in between is not started again)."""
    page.evaluate("() => { if (document.body.dataset.state === 'playing') document.getElementById('play').click(); }")


def wait_idle(page, timeout=30_000):
    page.wait_for_function("() => document.body.dataset.state === 'idle'", timeout=timeout)


def download(page, button):
    with page.expect_download() as info:
        page.click(button)
    return read_midi(Path(info.value.path()).read_bytes()), info.value.suggested_filename


