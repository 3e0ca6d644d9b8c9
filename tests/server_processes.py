"""Starting and stopping the real servers (and the browser) that browser and hub tests run as subprocesses.

What tests/browser/conftest.py (a `jupyter lab`) and tests/hub/hub_setup.py (a JupyterHub) share:
where the freshly built front end is, free loopback ports, the settings that keep news pop-ups
off the page, waiting for a process to answer, and stopping it.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BUILT_EXTENSION = REPO / "codex_nb" / "labextension"
ARTIFACTS = REPO / "test-artifacts"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = os.environ.get("CODEX_NB_CHROMIUM", "/usr/bin/chromium")


def unavailable(what: str, reason: str):
    """Fail under CI (a missing browser, hub or build must never pass silently), skip elsewhere."""
    if IN_CI:
        pytest.fail(f"{what} cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def share_built_extension(share: Path) -> Path:
    """A JUPYTER_PATH entry serving this tree's built extension (it comes first, so it wins over any installed copy)."""
    (share / "labextensions").mkdir(parents=True, exist_ok=True)
    (share / "labextensions" / "codex-nb").symlink_to(BUILT_EXTENSION, target_is_directory=True)
    return share


def write_no_news_settings(user_settings: Path) -> None:
    """Lab user settings without the news pop-up, which would cover the page."""
    news = user_settings / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True, exist_ok=True)
    (news / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))


def wait_until(probe, process: subprocess.Popen, name: str, seconds: float, message: str, log_path: Path,
               retry_on: tuple = (OSError,)):
    """``probe()``'s first truthy value; fails the test if ``process`` exits or ``seconds`` pass first."""
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            pytest.fail(f"{name} exited with {process.returncode}; see {log_path}", pytrace=False)
        try:
            value = probe()
            if value:
                return value
        except retry_on:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{message} in {seconds:.0f} s; see {log_path}", pytrace=False)
        time.sleep(0.3)


def stop_process(process: subprocess.Popen, timeout: float) -> None:
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()


def launched_chromium(what: str):
    """Debian's Chromium, headless, through Playwright's sync API: a generator for a fixture to ``yield from``.

    Playwright cannot download browsers here; a missing Chromium or playwright fails under CI.
    """
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()):
        unavailable(what, f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable(what, "the playwright Python package is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield browser
        browser.close()
