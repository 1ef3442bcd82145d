"""Benchmark: the conversation's "anything after id N?" poll, next to a hello-world Flask app.

Run with `.venv/bin/python bench/poll.py`. Like `bench/pages.py` (whose helpers it uses), it
builds a throwaway database with the demo program, starts the real app and `bench/hello.py`
under gunicorn (2 workers each, 127.0.0.1 only), signs in as the demo participant through the
real form and loads, with `wrk` (or the Python load generator):

- hello-world `/`, and `/healthz` (one `SELECT 1`, nobody signed in: the floor of this app);
- the poll of Sam's care-team thread when nothing is new (204, no body: what almost every poll
  answers);
- the same poll when one message is new (200 with that message and the next poller).

It then says how many open phones one machine (these 2 workers) serves: a phone with the
conversation open and in front asks once every poll interval, so phones = req/s x interval.
Compare the "% of hello-world" column of one run, never absolute numbers across machines.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.dont_write_bytecode = True
BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import pages  # noqa: E402  (bench/pages.py: servers, sign-in, load generators)

# wrk: count answers other than the expected status (204 for "nothing new").
WRK_SCRIPT = pages.WRK_SCRIPT.replace("status ~= 200", "status ~= tonumber(os.getenv('EXPECT'))")


def _load(wrk, port, path, cookie, args, script, expect: int) -> pages.Result:
    if wrk:
        os.environ["EXPECT"] = str(expect)
        return pages.run_wrk(wrk, port, path, cookie, args, script)
    result = pages.run_python(port, path, cookie, args)
    if expect != 200:  # run_python counts everything but 200; here `expect` is the good answer
        result.non200 = 0
    return result


def measure(args, db: pages.Database, tmp: Path, wrk) -> list[tuple[str, pages.Result]]:
    """Load the four requests against the app on one database, and hello-world beside it."""
    url, env, _ = pages.build(db, "small", tmp)
    ids = pages.demo_ids(url)
    newest, before = ids["newest"], ids["before"]
    poll = f"/messages/{ids['care']}/poll?after="
    rows = [
        ("hello-world `/`", "hello", "/", 200),
        ("`/healthz` (one `SELECT 1`, no session)", "app", "/healthz", 200),
        ("poll, nothing new (204)", "app", f"{poll}{newest}", 204),
        ("poll, one new message (200)", "app", f"{poll}{before}", 200),
    ]
    ports = {"app": pages.free_port(), "hello": pages.free_port()}
    logs = {name: tmp / f"{name}.log" for name in ports}
    servers = {}
    results = []
    try:
        servers["app"] = pages.start_server("app:app", ports["app"], env, logs["app"])
        servers["hello"] = pages.start_server(
            "hello:app", ports["hello"], env, logs["hello"], ("--pythonpath", str(BENCH_DIR))
        )
        pages.wait_ready(servers["app"], ports["app"], "/healthz", logs["app"])
        pages.wait_ready(servers["hello"], ports["hello"], "/", logs["hello"])
        cookie = pages.sign_in(ports["app"], pages.PARTICIPANT_EMAIL)
        script = tmp / "report.lua"
        script.write_text(WRK_SCRIPT)
        for label, server, path, expect in rows:
            who = cookie if server == "app" else None
            headers = {"Cookie": who} if who else {}
            status, _, body = pages.http_request(ports[server], "GET", path, headers=headers)
            if status != expect or (expect == 204 and body):
                raise pages.BenchError(f"{label} answered {status} ({len(body)} bytes)")
            result = _load(wrk, ports[server], path, who, args, str(script), expect)
            print(f"  [{db.label}] {label}: {result.rps:,.0f} req/s", file=sys.stderr)
            results.append((label, result))
    finally:
        for proc in servers.values():
            pages.stop_server(proc)
    return results


def main(argv=None) -> int:
    args = pages.parse_args(argv if argv is not None else sys.argv[1:])
    wrk = None if args.no_wrk else shutil.which("wrk")
    databases, _ = pages.chosen_databases(args)
    load = (
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s"
        if wrk
        else f"Python load generator, {args.connections} connections"
    )
    bad = []
    with tempfile.TemporaryDirectory(prefix="iop-bench-poll-") as folder:
        for db in databases:
            results = measure(args, db, Path(folder), wrk)
            hello = results[0][1].rps
            print(
                f"\n{db.label}. Load: {load}; gunicorn, 2 workers each, {os.cpu_count()} cores.\n"
            )
            print("| request | req/s | p50 ms | p95 ms | % of hello-world |")
            print("|---|---:|---:|---:|---:|")
            for label, r in results:
                share = 100 * r.rps / hello if hello else 0.0
                print(
                    f"| {label} | {r.rps:,.0f} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | {share:.1f}% |"
                )
            idle = results[2][1].rps
            print(
                f"\nOpen phones served (each asks once per interval): about {idle * 5:,.0f} at a "
                f"5-second poll, {idle * 3:,.0f} at the app's 3-second poll."
            )
            bad += [f"{db.label}: {label}" for label, r in results if r.non200 or r.errors]
    if bad:
        print(f"unexpected answers or errors on: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
