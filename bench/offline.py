"""Benchmark: what the offline-first app costs a phone, measured in headless Chromium on localhost.

Reports bytes transferred on a first visit to Today, requests and bytes on a repeat visit (every
request answered by the service worker: the page network-first, the shell from its cache), and the
time to show Today from the device while offline.
Run with `.venv/bin/python bench/offline.py`. It builds a throwaway demo database, runs the app
under gunicorn on 127.0.0.1 and drives Debian's Chromium with Playwright.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from iop_pwa.demo import DEMO_PASSWORD  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RUNS = 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Transfer:
    """Counts requests and encoded bytes the page receives over the network (CDP events)."""

    def __init__(self, cdp):
        self.requests = 0
        self.bytes = 0
        self.from_worker = 0
        cdp.send("Network.enable")
        cdp.on("Network.responseReceived", self._response)
        cdp.on("Network.loadingFinished", self._finished)

    def _response(self, event):
        self.requests += 1
        if event["response"].get("fromServiceWorker"):
            self.from_worker += 1

    def _finished(self, event):
        self.bytes += int(event.get("encodedDataLength", 0))

    def reset(self):
        self.requests = self.bytes = self.from_worker = 0


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="iop-bench-offline-"))
    env = {
        **os.environ,
        "INSTANCE_PATH": str(tmp),
        "APP_ENV": "development",
        "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
        "RATELIMIT_ENABLED": "0",
    }
    flask = [str(BIN / "flask"), "--app", "app"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([*flask, "demo"], cwd=ROOT, env=env, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "--no-control-socket", "-w", "2", "-b", f"127.0.0.1:{port}",
         "app:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            context = browser.new_context(
                viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
            )
            page = context.new_page()
            page.goto(f"{base}/sign-in")
            page.get_by_label("Email").fill("sam@demo.test")
            page.get_by_label("Password").fill(DEMO_PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/today")
            page.evaluate("navigator.serviceWorker.ready.then(() => true)")

            # First visit in a fresh tab of the same session (service worker installing).
            first_ctx = browser.new_context(
                storage_state=context.storage_state(), viewport={"width": 390, "height": 844}
            )
            first_page = first_ctx.new_page()
            first = Transfer(first_ctx.new_cdp_session(first_page))
            first_page.goto(f"{base}/today", wait_until="load")
            first_page.evaluate("navigator.serviceWorker.ready.then(() => true)")
            first_bytes, first_requests = first.bytes, first.requests

            # Repeat visit: the page itself from the network, the shell from the worker's cache.
            first_page.reload(wait_until="load")
            first.reset()
            first_page.goto(f"{base}/today", wait_until="load")
            repeat = (first.requests, first.bytes, first.from_worker)
            page_bytes = len(first_page.request.get(f"{base}/today").body())

            # Offline: Today from the device.
            first_ctx.set_offline(True)
            timings = []
            for _ in range(RUNS):
                start = time.perf_counter()
                first_page.goto(f"{base}/today", wait_until="load")
                first_page.get_by_text("Offline: showing what you saw at").wait_for()
                timings.append((time.perf_counter() - start) * 1000)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)

    print("| measure | value |")
    print("|---|---|")
    print(
        f"| first visit to Today: requests / bytes over the network | {first_requests} / "
        f"{first_bytes:,} |"
    )
    print(
        f"| repeat visit: requests / bytes outside the service worker / answered by it | "
        f"{repeat[0]} / {repeat[1]:,} / {repeat[2]} |"
    )
    print(
        f"| of which the Today page (fetched by the worker, network first), bytes | "
        f"{page_bytes:,} |"
    )
    print(
        f"| Today from the device while offline: median / max of {RUNS} (ms) | "
        f"{statistics.median(timings):.0f} / {max(timings):.0f} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
