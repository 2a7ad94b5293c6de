"""Headless Chromium for the browser tests, driven through the DevTools protocol.

:func:`chromium` finds the Debian package's binary (``.ci/run`` installs it when absent);
tests skip with the reason when there is none. :class:`Browser` opens one page per
:meth:`Browser.open`, records every network request the page makes, and evaluates
JavaScript in it: enough to ask "did it load anything?", "does it overflow?" and "is the
verdict on the first screen?" of a real rendering engine. :func:`seen_text` waits for a
React page's text; :func:`mlflow_server` serves a workspace's MLflow store for the pages.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "headless_shell")


def chromium() -> str:
    """Path of a Chromium binary, or skip the test with the reason."""
    for name in (os.environ.get("ALPHAGATE_CHROMIUM"), *CANDIDATES):
        if name and (path := shutil.which(name)):
            return path
    pytest.skip("no headless Chromium: install the Debian package `chromium` (.ci/run does)")
    raise AssertionError  # unreachable: skip raises


@dataclass(frozen=True)
class Loaded:
    """A page after its load event.

    ``requests`` lists every URL the page asked for (the page itself included);
    ``evaluate(js)`` returns the value of a JavaScript expression in the page;
    ``screenshot(path, full_page=False)`` saves a PNG of the viewport (or the whole page).
    """

    requests: list[str]
    evaluate: Callable[[str], Any]
    screenshot: Callable[..., Path]


class Browser:
    """One headless Chromium process with a DevTools port (use as a context manager)."""

    def __init__(self, width: int = 1280, height: int = 800):
        self.width, self.height = width, height
        self._profile = tempfile.mkdtemp(prefix="alphagate-chromium-")
        self._proc = subprocess.Popen(
            [
                chromium(), "--headless=new", "--no-sandbox", "--disable-gpu",
                "--no-first-run", "--disable-extensions", "--disable-background-networking",
                "--remote-debugging-port=0", f"--user-data-dir={self._profile}", "about:blank",
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self._port = self._wait_for_port()
        self._ids = itertools.count(1)

    def _wait_for_port(self) -> int:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self._proc.stderr.readline()
            if match := re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line):
                return int(match.group(1))
            if not line and self._proc.poll() is not None:
                break
        raise RuntimeError("headless Chromium did not open its DevTools port")

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self._proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=10)
        shutil.rmtree(self._profile, ignore_errors=True)

    def open(self, url: str, settle: float = 0.0):
        """Load ``url`` at this browser's viewport and wait for its load event."""
        from websockets.sync.client import connect

        req = urllib.request.Request(
            f"http://127.0.0.1:{self._port}/json/new?about:blank", method="PUT"
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            target = json.load(resp)
        ws = connect(target["webSocketDebuggerUrl"], max_size=2**26)
        requests: list[str] = []

        def call(method: str, **params):
            msg_id = next(self._ids)
            ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
            while True:
                msg = json.loads(ws.recv(timeout=60))
                if msg.get("method") == "Network.requestWillBeSent":
                    requests.append(msg["params"]["request"]["url"])
                if msg.get("id") == msg_id:
                    if "error" in msg:
                        raise RuntimeError(f"{method}: {msg['error']}")
                    return msg.get("result", {})

        def wait_for(event: str, timeout: float = 60) -> None:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                msg = json.loads(ws.recv(timeout=timeout))
                if msg.get("method") == "Network.requestWillBeSent":
                    requests.append(msg["params"]["request"]["url"])
                if msg.get("method") == event:
                    return
            raise TimeoutError(event)

        call("Network.enable")
        call("Page.enable")
        call("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
             deviceScaleFactor=1, mobile=False)  # fmt: skip
        call("Page.navigate", url=url)
        wait_for("Page.loadEventFired")
        if settle:
            time.sleep(settle)

        def evaluate(expression: str):
            out = call("Runtime.evaluate", expression=expression, returnByValue=True)
            return out["result"].get("value")

        def screenshot(out: Path, full_page: bool = False) -> Path:
            shot = call("Page.captureScreenshot", format="png", captureBeyondViewport=full_page)
            Path(out).write_bytes(base64.b64decode(shot["data"]))
            return Path(out)

        return Loaded(requests, evaluate, screenshot)


def page_url(path: Path) -> str:
    return Path(path).resolve().as_uri()


def seen_text(browser: Browser, url: str, wait_for: str, timeout: float = 90) -> str:
    """The text a person sees on ``url`` once ``wait_for`` is on it (a React page renders
    after its load event)."""
    loaded = browser.open(url)
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = loaded.evaluate("document.body.innerText") or ""
        if wait_for in text:
            return text
        time.sleep(0.5)
    raise AssertionError(f"{url}: {wait_for!r} never shown; saw {text[:2000]!r}")


@contextlib.contextmanager
def mlflow_server(tracking_uri: str, timeout: float = 180) -> Iterator[str]:
    """``mlflow server --workers 1`` on ``tracking_uri`` (no job execution: about 0.5 GB,
    shared/DESIGN.md); yields its base URL once ``/health`` answers."""
    from tests.helpers_witness import free_port

    port = free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--workers", "1", "--host", "127.0.0.1",
         "--port", str(port), "--backend-store-uri", tracking_uri],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=5):
                break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("mlflow server did not start")
            time.sleep(1)
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
