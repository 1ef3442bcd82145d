"""Benchmark: requests/second and latency of the main pages, next to a hello-world Flask app.

Run with `make bench` (or `.venv/bin/python bench/pages.py`). It builds a throwaway database with
the demo program in a temporary folder, starts the real app and `bench/hello.py` under gunicorn
(2 workers each, 127.0.0.1 only), signs in as the demo participant and therapist through the real
sign-in form and loads each page with `wrk` (or, without it, a small Python load generator).

The figures only mean something next to the hello-world row of the same run, on the same machine:
compare the "% of hello-world" column, never the absolute numbers. Exits non-zero if a page does not
answer 200 (for instance a redirect to the sign-in page), before or during the load.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.dont_write_bytecode = True  # leave no __pycache__ behind in the repository

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
BIN_DIR = Path(sys.executable).parent
HOST = "127.0.0.1"  # the only address this script ever talks to

sys.path.insert(0, str(ROOT))
import pyotp  # noqa: E402

from iop_pwa.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET, THERAPIST_EMAIL  # noqa: E402

PARTICIPANT_EMAIL = "sam@demo.test"

# (label, server, path, who is signed in)
PAGES = [
    ("hello-world `/`", "hello", "/", None),
    ("`/healthz`", "app", "/healthz", None),
    ("`/sign-in` (anonymous)", "app", "/sign-in", None),
    ("`/today` (participant)", "app", "/today", "participant"),
    ("`/dashboard` (therapist)", "app", "/dashboard", "therapist"),
    ("`/dashboard/participants` (therapist)", "app", "/dashboard/participants", "therapist"),
]

WRK_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) non200 = 0 end
function response(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("non200") end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%.0f duration_us=%.0f p50_us=%.0f p95_us=%.0f non200=%.0f errors=%.0f\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    bad, e.connect + e.read + e.write + e.timeout))
end
"""


class BenchError(RuntimeError):
    """Something that makes the figures meaningless: the run stops and exits non-zero."""


@dataclass
class Result:
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    non200: int
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


# ---------------------------------------------------------------------------------------------
# Plain HTTP with a tiny cookie jar (sign-in and the checks before loading)


def http_request(port, method, path, *, cookies=None, body=None, headers=None, timeout=10.0):
    """One request to 127.0.0.1:port; returns (status, headers, body). Never follows redirects."""
    headers = dict(headers or {})
    if cookies:
        headers["Cookie"] = cookie_header(cookies)
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    if cookies is not None:
        for raw in resp.headers.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    cookies.pop(name, None)
                else:
                    cookies[name] = morsel.value
    return resp.status, resp.headers, data


def cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


class _CsrfFinder(HTMLParser):
    def __init__(self):
        super().__init__()
        self.token: str | None = None

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        if tag == "input" and found.get("name") == "csrf_token" and self.token is None:
            self.token = found.get("value")


def sign_in(port: int, email: str) -> str:
    """Sign in through the real form; returns the Cookie header of the signed-in browser."""
    cookies: dict[str, str] = {}
    status, _, body = http_request(port, "GET", "/sign-in", cookies=cookies)
    if status != 200:
        raise BenchError(f"GET /sign-in answered {status}")
    finder = _CsrfFinder()
    finder.feed(body.decode("utf-8", "replace"))
    if not finder.token:
        raise BenchError("no csrf_token field on the sign-in page")
    form = urlencode({"csrf_token": finder.token, "email": email, "password": DEMO_PASSWORD})
    status, headers, _ = http_request(
        port,
        "POST",
        "/sign-in",
        cookies=cookies,
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    location = urlsplit(headers.get("Location", "")).path
    if status in (302, 303) and location == "/sign-in/second-factor":
        # Demo staff: the authenticator app's code, as the demo prints it.
        status, _, body = http_request(port, "GET", location, cookies=cookies)
        finder = _CsrfFinder()
        finder.feed(body.decode("utf-8", "replace"))
        code = pyotp.TOTP(DEMO_TOTP_SECRET).now()
        status, headers, _ = http_request(
            port,
            "POST",
            location,
            cookies=cookies,
            body=urlencode({"csrf_token": finder.token or "", "code": code}),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        location = urlsplit(headers.get("Location", "")).path
    if status not in (302, 303) or not location or location.startswith("/sign-in"):
        raise BenchError(f"signing in as {email} failed (status {status}, to {location!r})")
    return cookie_header(cookies)


# ---------------------------------------------------------------------------------------------
# Load generators


def run_wrk(wrk, port, path, cookie, args, script) -> Result:
    cmd = [
        wrk,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--timeout",
        "5s",
        "-s",
        script,
    ]
    if cookie:
        cmd += ["-H", f"Cookie: {cookie}"]
    cmd.append(f"http://{HOST}:{port}{path}")
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            cmd, capture_output=True, text=True, timeout=args.duration + 30, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk on {path} did not finish in time") from exc
    match = re.search(
        r"BENCH requests=(\d+) duration_us=(\d+) p50_us=(\d+) p95_us=(\d+) "
        r"non200=(\d+) errors=(\d+)",
        done.stdout,
    )
    if done.returncode != 0 or not match:
        raise BenchError(f"wrk on {path} failed:\n{done.stdout}\n{done.stderr}")
    requests, duration_us, p50_us, p95_us, non200, errors = (int(g) for g in match.groups())
    return Result(requests, duration_us / 1e6, p50_us / 1000, p95_us / 1000, non200, errors)


def run_python(port, path, cookie, args) -> Result:
    """Fallback: `connections` threads with keep-alive http.client connections.

    Bounded twice: at most `requests` requests in all, and no new request after `max_seconds`.
    """
    headers = {"Cookie": cookie} if cookie else {}
    lock = threading.Lock()
    issued = 0
    deadline = time.monotonic() + args.max_seconds
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors = 0

    def claim() -> bool:
        nonlocal issued
        with lock:
            if issued >= args.requests or time.monotonic() >= deadline:
                return False
            issued += 1
            return True

    def worker() -> None:
        nonlocal errors
        mine: list[float] = []
        seen: Counter[int] = Counter()
        failed = 0
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        try:
            while claim():
                start = time.perf_counter()
                try:
                    conn.request("GET", path, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                except (OSError, http.client.HTTPException):
                    conn.close()  # reconnects on the next request
                    failed += 1
                    continue
                mine.append(time.perf_counter() - start)
                seen[resp.status] += 1
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)
                statuses.update(seen)
                errors += failed

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(args.connections)]
    started = time.perf_counter()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=args.max_seconds + 15)
    elapsed = time.perf_counter() - started
    if any(thread.is_alive() for thread in workers):
        raise BenchError(f"the load on {path} did not stop in time")
    latencies.sort()
    count = len(latencies)

    def percentile(p: float) -> float:
        return latencies[min(count - 1, int(count * p / 100))] * 1000 if count else 0.0

    non200 = count - statuses.get(200, 0)
    return Result(count, elapsed, percentile(50), percentile(95), non200, errors)


# ---------------------------------------------------------------------------------------------
# Servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_server(app_spec, port, env, log_path, extra=()) -> subprocess.Popen:
    cmd = [
        str(BIN_DIR / "gunicorn"),
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        "2",
        "--graceful-timeout",
        "5",
        *extra,
        app_spec,
    ]
    with open(log_path, "wb") as log:
        return subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_ready(proc, port, path, log_path, timeout=30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"server on port {port} exited:\n{tail(log_path)}")
        try:
            http_request(port, "GET", path, timeout=2)
            return
        except OSError:
            time.sleep(0.1)
    raise BenchError(f"server on port {port} did not start in {timeout:.0f}s:\n{tail(log_path)}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its own process group (start_new_session)
        proc.wait(timeout=5)


def tail(path, lines=30) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def flask_cli(env, *argv) -> None:
    cmd = [str(BIN_DIR / "flask"), "--app", "app", *argv]
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"`flask {' '.join(argv)}` did not finish in time") from exc
    if done.returncode != 0:
        raise BenchError(f"`flask {' '.join(argv)}` failed:\n{done.stdout}\n{done.stderr}")


# ---------------------------------------------------------------------------------------------


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="wrk: seconds per page")
    parser.add_argument("--threads", type=int, default=2, help="wrk: threads")
    parser.add_argument("--connections", type=int, default=16, help="open connections")
    parser.add_argument("--requests", type=int, default=3000, help="fallback: requests per page")
    parser.add_argument("--max-seconds", type=float, default=10, help="fallback: seconds per page")
    parser.add_argument("--no-wrk", action="store_true", help="use the Python load generator")
    return parser.parse_args(argv)


def server_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        INSTANCE_PATH=str(tmp / "instance"),
        DATABASE_URL=f"sqlite:///{tmp / 'bench.sqlite3'}",
        APP_ENV="development",
        RATELIMIT_ENABLED="0",
        SECURE_COOKIES="0",  # plain http on loopback, whatever a local .env says
        REDIS_URL="",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def bench(args, tmp: Path) -> int:
    wrk = None if args.no_wrk else shutil.which("wrk")
    env = server_env(tmp)
    print("setting up a throwaway database with the demo program ...", file=sys.stderr)
    flask_cli(env, "db", "upgrade")
    flask_cli(env, "demo")

    ports = {"app": free_port(), "hello": free_port()}
    logs = {name: tmp / f"{name}.log" for name in ports}
    servers: dict[str, subprocess.Popen] = {}
    try:
        servers["app"] = start_server("app:app", ports["app"], env, logs["app"])
        servers["hello"] = start_server(
            "hello:app", ports["hello"], env, logs["hello"], ("--pythonpath", str(BENCH_DIR))
        )
        wait_ready(servers["app"], ports["app"], "/healthz", logs["app"])
        wait_ready(servers["hello"], ports["hello"], "/", logs["hello"])

        cookies = {
            None: None,
            "participant": sign_in(ports["app"], PARTICIPANT_EMAIL),
            "therapist": sign_in(ports["app"], THERAPIST_EMAIL),
        }
        for label, server, path, who in PAGES:
            headers = {"Cookie": cookies[who]} if cookies[who] else {}
            status, resp_headers, _ = http_request(ports[server], "GET", path, headers=headers)
            if status != 200:
                where = resp_headers.get("Location", "")
                raise BenchError(f"{label} answered {status} {where}".rstrip())

        if wrk:
            load = f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s"
        else:
            load = (
                f"Python load generator, {args.connections} connections, "
                f"{args.requests} requests or {args.max_seconds:g}s per page"
            )
        print(f"loading each page with {load} ...", file=sys.stderr)
        script = tmp / "report.lua"
        script.write_text(WRK_SCRIPT)
        results = []
        for label, server, path, who in PAGES:
            if wrk:
                result = run_wrk(wrk, ports[server], path, cookies[who], args, str(script))
            else:
                result = run_python(ports[server], path, cookies[who], args)
            print(f"  {label}: {result.rps:,.0f} req/s", file=sys.stderr)
            results.append((label, result))
    finally:
        for proc in servers.values():
            stop_server(proc)

    hello_rps = results[0][1].rps
    print(f"\nLoad: {load}; gunicorn, 2 workers each, {os.cpu_count()} cores, 127.0.0.1.\n")
    print("| page | req/s | p50 ms | p95 ms | % of hello-world |")
    print("|---|---:|---:|---:|---:|")
    for label, r in results:
        share = 100 * r.rps / hello_rps if hello_rps else 0.0
        print(f"| {label} | {r.rps:,.0f} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | {share:.1f}% |")

    failed = 0
    for label, r in results:
        if r.non200:
            print(f"FAIL: {label}: {r.non200} responses other than 200 under load", file=sys.stderr)
            failed += 1
        if r.errors:
            print(f"note: {label}: {r.errors} socket errors or timeouts", file=sys.stderr)
        if r.requests == 0:
            print(f"FAIL: {label}: no request completed", file=sys.stderr)
            failed += 1
    if failed:
        print(f"end of the app server's log:\n{tail(logs['app'])}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A SIGTERM unwinds like Ctrl-C, so the servers are stopped and the temp folder removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="iop-bench-"))
    try:
        return bench(args, tmp)
    except (BenchError, OSError, http.client.HTTPException, subprocess.SubprocessError) as exc:
        print(f"FAIL: {type(exc).__name__}: {exc}", file=sys.stderr)
        for log in sorted(tmp.glob("*.log")):
            print(f"--- end of {log.name}:\n{tail(log)}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
