"""Benchmark: requests/second of the main pages, next to a hello-world Flask app, on the demo
program and on a large one, on SQLite and PostgreSQL.

Run with `make bench` (or `.venv/bin/python bench/pages.py`). For each database (a SQLite file in
a temporary folder; PostgreSQL at `--postgresql-url` when it answers, a database this script drops
and makes again) and each size (the demo program; `bench/large.py`'s program of 1,000
participants with a year of history around it), it starts the real app and `bench/hello.py` under
gunicorn (2 workers each, 127.0.0.1 only), signs in as the demo participant and therapist through
the real sign-in form and loads each page with `wrk` (or, without it, a small Python load
generator). It counts each page's SQL statements per request in process (Flask's test client and
a `before_cursor_execute` listener), prints one table per database and writes them into
README.md between `<!-- bench:start -->` and `<!-- bench:end -->` (not with `--no-readme` or
`--quick`).

The figures only mean something next to the hello-world row of the same run, on the same machine:
compare the "% of hello-world" columns, never the absolute numbers. Exits non-zero if a page does
not give its expected answer (for instance a redirect to the sign-in page), before or during the
load.
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

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/h_bench"
README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"
HELLO = "hello-world `/`"

# (label, server, path, who is signed in, the answer expected). `{sam}`, `{care}` and `{newest}`
# are filled in from each database: Sam's id, his care-team thread and its newest message.
PAGES = [
    (HELLO, "hello", "/", None, 200),
    ("`/healthz`", "app", "/healthz", None, 200),
    ("`/sign-in` (anonymous)", "app", "/sign-in", None, 200),
    ("`/today` (participant)", "app", "/today", "participant", 200),
    ("`/journal` (participant)", "app", "/journal", "participant", 200),
    ("`/sessions` (participant)", "app", "/sessions", "participant", 200),
    ("message poll, nothing new (participant)", "app", "/messages/{care}/poll?after={newest}",
     "participant", 204),
    ("`/dashboard` (therapist)", "app", "/dashboard", "therapist", 200),
    ("`/dashboard/participants` (therapist)", "app", "/dashboard/participants", "therapist", 200),
    ("participant page, Sam (therapist)", "app", "/dashboard/participants/{sam}", "therapist",
     200),
]  # fmt: skip

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
# Each page's own good answer (the poll answers 204 when nothing is new): wrk reads EXPECT.
EXPECTED_STATUS = "status ~= tonumber(os.getenv('EXPECT') or '200')"


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
        code = next_code()
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


_last_step = [0]


def next_code() -> str:
    """The demo app's code, never one already typed (the app takes each code once, and the
    window allows a step either side): the bench signs in several times a minute, and waits
    when the next unused code is not yet in the window."""
    step = max(int(time.time()) // 30, _last_step[0] + 1)
    if step > int(time.time()) // 30 + 1:  # beyond the window: wait for the clock to catch up
        time.sleep((step - 1) * 30 - time.time())
    _last_step[0] = step
    return pyotp.TOTP(DEMO_TOTP_SECRET).at(step * 30)


# ---------------------------------------------------------------------------------------------
# Load generators


def run_wrk(wrk, port, path, cookie, args, script, expect: int | None = None) -> Result:
    """`expect`: the status that counts as an answer (the script reads EXPECT; default 200)."""
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
            cmd,
            capture_output=True,
            text=True,
            timeout=args.duration + 30,
            check=False,
            env=None if expect is None else {**os.environ, "EXPECT": str(expect)},
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


def run_python(port, path, cookie, args, expect: int = 200) -> Result:
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

    non200 = count - statuses.get(expect, 0)
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
        "--no-control-socket",  # one path per machine: two servers here would share it
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
# Databases and sizes


@dataclass
class Database:
    label: str  # "SQLite" or "PostgreSQL"
    url: str  # for the large size; the small one is made the same way, fresh


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="wrk: seconds per page")
    parser.add_argument("--threads", type=int, default=2, help="wrk: threads")
    parser.add_argument("--connections", type=int, default=16, help="open connections")
    parser.add_argument("--requests", type=int, default=3000, help="fallback: requests per page")
    parser.add_argument("--max-seconds", type=float, default=10, help="fallback: seconds per page")
    parser.add_argument("--no-wrk", action="store_true", help="use the Python load generator")
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql", "both"),
        default="both",
        help="which databases (PostgreSQL only when reachable)",
    )
    parser.add_argument(
        "--postgresql-url",
        default=os.environ.get("BENCH_DATABASE_URL", PG_URL),
        help="a PostgreSQL database the bench may drop and make again",
    )
    parser.add_argument("--no-readme", action="store_true", help="print the tables only")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1-second loads, demo data only; never writes the README",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.max_seconds, args.requests = 1, 2, 300
    return args


def server_env(tmp: Path, url: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        INSTANCE_PATH=str(tmp / "instance"),
        DATABASE_URL=url or f"sqlite:///{tmp / 'bench.sqlite3'}",
        APP_ENV="development",
        RATELIMIT_ENABLED="0",
        SECURE_COOKIES="0",  # plain http on loopback, whatever a local .env says
        REDIS_URL="",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def _postgres_server(url: str):
    """An AUTOCOMMIT engine on the server's `postgres` database, or None if it does not answer."""
    from sqlalchemy import create_engine, text

    base = url.rsplit("/", 1)[0]
    engine = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means "not reachable here"
        engine.dispose()
        return None
    return engine


def fresh_database(db: Database, size: str, tmp: Path) -> str:
    """An empty database for one size: a new SQLite file, or the PostgreSQL one dropped and
    made again. Returns its URL."""
    if db.label == "SQLite":
        return f"sqlite:///{tmp / f'bench-{size}.sqlite3'}"
    from sqlalchemy import text

    server = _postgres_server(db.url)
    if server is None:
        raise BenchError(f"PostgreSQL at {db.url} stopped answering")
    name = db.url.rsplit("/", 1)[1]
    try:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        server.dispose()
    return db.url


def build(db: Database, size: str, tmp: Path) -> tuple[str, dict[str, str], float | None]:
    """The demo program (and for "large", bench/large.py's program around it) in a fresh
    database; returns its URL, the servers' environment and the seconds seeding took."""
    url = fresh_database(db, size, tmp)
    env = server_env(tmp, url)
    print(f"[{db.label}, {size}] migrating and loading the demo program ...", file=sys.stderr)
    flask_cli(env, "db", "upgrade")
    flask_cli(env, "demo")
    if size != "large":
        return url, env, None
    from bench.large import seed_large
    from iop_pwa.db import make_engine

    engine = make_engine(url)
    started = time.perf_counter()
    try:
        seed_large(engine, log=lambda line: print(f"[{db.label}] {line}", file=sys.stderr))
    finally:
        engine.dispose()
    return url, env, time.perf_counter() - started


def chosen_databases(args) -> tuple[list[Database], list[str]]:
    """The databases `--database` asks for, and a line for each that cannot be measured here
    (PostgreSQL when its server does not answer)."""
    databases, skipped = [], []
    if args.database in ("sqlite", "both"):
        databases.append(Database("SQLite", ""))
    if args.database in ("postgresql", "both"):
        server = _postgres_server(args.postgresql_url)
        if server is None:
            skipped.append(f"PostgreSQL: not measured ({args.postgresql_url} did not answer).")
            print(f"note: {skipped[-1]}", file=sys.stderr)
        else:
            server.dispose()
            databases.append(Database("PostgreSQL", args.postgresql_url))
    return databases, skipped


def resolve(url: str) -> list[tuple[str, str, str, str | None, int]]:
    """The pages with their ids filled in from this database: Sam's id, his care-team thread
    and its newest message (the poll asks "anything after it?": 204, nothing new)."""
    names = demo_ids(url)
    return [
        (label, server, path.format(**names), who, status)
        for label, server, path, who, status in PAGES
    ]


def demo_ids(url: str) -> dict[str, int]:
    """Sam's id, his care-team thread, its newest message and the one before it."""
    from sqlalchemy import create_engine, func, select

    from iop_pwa.accounts.models import User
    from iop_pwa.messages.models import Conversation, Message

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            sam = conn.execute(select(User.id).where(User.email == PARTICIPANT_EMAIL)).scalar_one()
            care = conn.execute(
                select(Conversation.id).where(Conversation.participant_id == sam)
            ).scalar_one()
            newest = conn.execute(
                select(func.max(Message.id)).where(Message.conversation_id == care)
            ).scalar_one()
            before = conn.execute(
                select(func.max(Message.id)).where(
                    Message.conversation_id == care, Message.id < newest
                )
            ).scalar_one()
    finally:
        engine.dispose()
    return {"sam": sam, "care": care, "newest": newest, "before": before}


def count_queries(url: str, pages) -> dict[str, int]:
    """SQL statements per request of each page, counted in this process through Flask's test
    client (each page once to warm it, then once counted), with the same database."""
    from sqlalchemy import event

    from iop_pwa import create_app
    from iop_pwa.db import engines

    app = create_app({"DATABASE_URL": url, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
    engine = app.extensions["db_engine"]
    watched = engines(app)
    quick = app.extensions["quick_answers"].statement_listeners  # statements sent without SA
    clients = {}
    for who, email in (("participant", PARTICIPANT_EMAIL), ("therapist", THERAPIST_EMAIL)):
        clients[who] = app.test_client()
        answer = clients[who].post("/sign-in", data={"email": email, "password": DEMO_PASSWORD})
        if answer.status_code == 303 and answer.headers["Location"] == "/sign-in/second-factor":
            answer = clients[who].post(answer.headers["Location"], data={"code": next_code()})
        if answer.status_code != 303:
            raise BenchError(f"signing in as {email} in process answered {answer.status_code}")
    counts: dict[str, int] = {}
    sent: list[str] = []

    def count(conn, cursor, statement, *rest):
        sent.append(statement)

    try:
        for label, server, path, who, status in pages:
            if server != "app" or who is None:
                continue
            clients[who].get(path)  # warm: the session touch is once a minute
            for watch in watched:
                event.listen(watch, "before_cursor_execute", count)
            quick.append(sent.append)
            try:
                answer = clients[who].get(path)
            finally:
                for watch in watched:
                    event.remove(watch, "before_cursor_execute", count)
                quick.remove(sent.append)
            if answer.status_code != status:
                raise BenchError(f"{label} answered {answer.status_code} in process")
            counts[label] = len(sent)
            sent.clear()
    finally:
        engine.dispose()
    return counts


def load(args, env, pages, tmp: Path, wrk) -> tuple[dict[str, Result], Path]:
    """Serve the app and hello-world under gunicorn and load every page; label -> Result."""
    ports = {"app": free_port(), "hello": free_port()}
    logs = {name: tmp / f"{name}.log" for name in ports}
    servers: dict[str, subprocess.Popen] = {}
    results: dict[str, Result] = {}
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
        for label, server, path, who, expect in pages:
            headers = {"Cookie": cookies[who]} if cookies[who] else {}
            status, resp_headers, _ = http_request(ports[server], "GET", path, headers=headers)
            if status != expect:
                where = resp_headers.get("Location", "")
                raise BenchError(f"{label} answered {status} {where}".rstrip())
        script = tmp / "report.lua"
        script.write_text(WRK_SCRIPT.replace("status ~= 200", EXPECTED_STATUS))
        for label, server, path, who, expect in pages:
            if wrk:
                result = run_wrk(
                    wrk, ports[server], path, cookies[who], args, str(script), expect=expect
                )
            else:
                result = run_python(ports[server], path, cookies[who], args, expect=expect)
            print(f"  {label}: {result.rps:,.0f} req/s", file=sys.stderr)
            results[label] = result
    finally:
        for proc in servers.values():
            stop_server(proc)
    return results, logs["app"]


# ---------------------------------------------------------------------------------------------
# Tables and the README


@dataclass
class Run:
    results: dict[str, Result]
    queries: dict[str, int]
    seed_seconds: float | None


def _share(rps: float, hello: float) -> str:
    return f"{100 * rps / hello:.1f}%" if hello else "-"


def kept(small: Result, large: Result, hello: dict[str, float]) -> float | None:
    """The share of its small-data rate a page keeps on the large program, each rate taken as
    a share of hello-world in its own run (so a busier machine in one run cancels out)."""
    if not (small.rps and hello.get("small") and hello.get("large")):
        return None
    return (large.rps / hello["large"]) / (small.rps / hello["small"])


def table(runs: dict[str, Run]) -> list[str]:
    """One markdown table: small and large data side by side (large columns "-" if not run)."""
    small, large = runs["small"], runs.get("large")
    hello = {size: run.results[HELLO].rps for size, run in runs.items()}
    lines = [
        "| page | small req/s | large req/s | large/small | % of hello-world (small) "
        "| % of hello-world (large) | SQL queries small/large |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, r in small.results.items():
        big = large.results[label] if large else None
        ratio = "-"
        if big and label != HELLO and kept(r, big, hello) is not None:
            kept_share = kept(r, big, hello)
            ratio = f"{kept_share:.2f}" + (" (below 0.8)" if kept_share < 0.8 else "")
        queries = "-"
        if label in small.queries:
            queries = f"{small.queries[label]}/{large.queries[label] if large else '-'}"
        lines.append(
            f"| {label} | {r.rps:,.0f} | {f'{big.rps:,.0f}' if big else '-'} | {ratio} "
            f"| {_share(r.rps, hello['small'])} "
            f"| {_share(big.rps, hello['large']) if big else '-'} | {queries} |"
        )
    return lines


def goals(runs: dict[str, Run]) -> str:
    """Issue 15's goals for the large program, met or not, page by page."""
    if "large" not in runs:
        return "Large program: not measured in this run."
    small, large = runs["small"], runs["large"]
    differ = [p for p in small.queries if small.queries[p] != large.queries.get(p)]
    hello = {size: run.results[HELLO].rps for size, run in runs.items()}
    slower = [
        f"{p} ({share:.2f})"
        for p, r in small.results.items()
        for share in [kept(r, large.results[p], hello)]
        if p != HELLO and share is not None and share < 0.8
    ]
    return (
        "SQL queries per request the same at both sizes: "
        + ("yes, every page." if not differ else "no: " + ", ".join(differ) + ".")
        + " At least 0.8 of the small-data rate: "
        + ("yes, every page." if not slower else "no: " + ", ".join(slower) + ".")
    )


def report(all_runs: dict[str, dict[str, Run]], skipped: list[str], load: str) -> str:
    """The Benchmarks section's generated part: when, where, how, then a table per database."""
    today = time.strftime("%d %b %Y", time.gmtime())
    lines = [
        f"`make bench`, {today}: {os.cpu_count()} cores, {load}; gunicorn with 2 workers for the "
        "app and for hello-world, 127.0.0.1. Small: the demo program. Large: `bench/large.py` "
        "around it (20 therapists, 1,000 participants in groups of about 8, a year of journal, "
        "practice, sessions, messages, check-ins and notifications each); Sam and Dr. Lopez "
        "are measured at both sizes. Large/small: the share of hello-world a page keeps on the "
        "large program over its share on the demo (each run against its own hello-world). "
        "SQL queries are counted per request in process.",
    ]
    for label, runs in all_runs.items():
        seconds = runs["large"].seed_seconds if "large" in runs else None
        seeded = f" (large program seeded in {seconds:.0f}s)" if seconds else ""
        lines += ["", f"**{label}**{seeded}", "", *table(runs), "", goals(runs)]
    for note in skipped:
        lines += ["", note]
    return "\n".join(lines)


def write_readme(text: str) -> None:
    path = ROOT / "README.md"
    readme = path.read_text()
    start, end = readme.find(README_START), readme.find(README_END)
    if start < 0 or end < start:
        raise BenchError(f"README.md has no {README_START} ... {README_END} markers")
    path.write_text(readme[: start + len(README_START)] + "\n" + text + "\n" + readme[end:])


# ---------------------------------------------------------------------------------------------


def bench(args, tmp: Path) -> int:
    wrk = None if args.no_wrk else shutil.which("wrk")
    if wrk:
        load_words = f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s"
    else:
        load_words = (
            f"Python load generator, {args.connections} connections, "
            f"{args.requests} requests or {args.max_seconds:g}s per page"
        )
    databases, skipped = chosen_databases(args)
    sizes = ("small",) if args.quick else ("small", "large")
    all_runs: dict[str, dict[str, Run]] = {}
    failed = 0
    for db in databases:
        for size in sizes:
            url, env, seconds = build(db, size, tmp)
            pages = resolve(url)
            queries = count_queries(url, pages)
            print(f"[{db.label}, {size}] loading each page with {load_words} ...", file=sys.stderr)
            results, app_log = load(args, env, pages, tmp, wrk)
            all_runs.setdefault(db.label, {})[size] = Run(results, queries, seconds)
            for label, r in results.items():
                if r.non200 or r.requests == 0:
                    print(
                        f"FAIL: {db.label}, {size}, {label}: {r.non200} unexpected answers, "
                        f"{r.requests} requests",
                        file=sys.stderr,
                    )
                    failed += 1
                if r.errors:
                    print(f"note: {label}: {r.errors} socket errors or timeouts", file=sys.stderr)
            if failed:
                print(f"end of the app server's log:\n{tail(app_log)}", file=sys.stderr)
                return 1
    text = report(all_runs, skipped, load_words)
    print("\n" + text)
    if not (args.no_readme or args.quick):
        write_readme(text)
        print("\n(written into README.md, Benchmarks)", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A SIGTERM unwinds like Ctrl-C, so the servers are stopped and the temp folder removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="iop-bench-"))
    os.environ.update(server_env(tmp))  # the in-process app (query counts) uses the same folder
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
