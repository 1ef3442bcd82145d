"""Benchmark: push deliveries per second through the worker, next to a plain pywebpush loop.

Run with `.venv/bin/python bench/push_fanout.py [--count 5000]`. In a temporary folder it builds a
SQLite database with the real migrations, makes COUNT people with one device each and one due
delivery each, and starts a local sink on 127.0.0.1 (a threaded HTTP server in a process of its
own that answers 201 to every POST, as a push service would). Then, in the same run and against
the same sink:

- plain: a loop calling `pywebpush.webpush()` once per device (encryption and VAPID signing
  included, as the worker does), one after the other;
- worker: `push.delivery.send()` rounds until nothing is due (claim with a lease, plan, send
  concurrently, record every result).

Compare the ratio of one run; absolute figures depend on the machine. Goal: at least 0.7.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.dont_write_bytecode = True
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HOST = "127.0.0.1"  # the only address this script ever talks to


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as push services allow

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def serve_sink() -> int:
    """The sink, in a process of its own (a push service is not in the sender's process: here
    it would share the sender's interpreter lock). Prints its port, serves until killed."""
    sink = ThreadingHTTPServer((HOST, 0), Sink)
    sink.daemon_threads = True
    print(sink.server_address[1], flush=True)
    sink.serve_forever()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        return serve_sink()

    work = Path(tempfile.mkdtemp(prefix="iop-push-bench-"))
    os.environ["INSTANCE_PATH"] = str(work / "instance")
    os.environ["APP_ENV"] = "development"
    os.environ.pop("DATABASE_URL", None)

    import base64

    import requests
    from alembic import command
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from pywebpush import webpush
    from sqlalchemy import insert
    from sqlmodel import select

    from iop_pwa import create_app
    from iop_pwa.cli import alembic_config
    from iop_pwa.db import session_scope, utcnow
    from iop_pwa.push import delivery, settings
    from iop_pwa.push.models import Delivery, PushSubscription

    sink = subprocess.Popen([sys.executable, __file__, "--sink"], stdout=subprocess.PIPE, text=True)
    origin = f"http://{HOST}:{int(sink.stdout.readline())}"

    app = create_app(
        {"DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}", "SECRET_KEY": "b" * 40}
    )
    app.config["PUSH_ALLOWED_ENDPOINTS"] = (origin + "/",)
    key = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    p256dh = base64.urlsafe_b64encode(key).rstrip(b"=").decode()
    auth = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
    now = utcnow()
    with app.app_context():
        command.upgrade(alembic_config(), "head")
        with session_scope() as db:
            from iop_pwa.accounts.models import User

            db.exec(
                insert(User.__table__),
                params=[
                    {
                        "email": f"p{i}@bench.test",
                        "name": f"P {i}",
                        "password_hash": "x",
                        "role": "participant",
                        "status": "active",
                        "timezone": "America/New_York",
                        "created_at": now,
                        "password_changed_at": now,
                        "must_change_password": False,
                    }
                    for i in range(args.count)
                ],
            )
            ids = list(db.exec(select(User.id)).all())
            db.exec(
                insert(PushSubscription.__table__),
                params=[
                    {
                        "user_id": uid,
                        "endpoint": f"{origin}/push/{uid}",
                        "p256dh": p256dh,
                        "auth": auth,
                        "device": "Bench",
                        "created_at": now,
                        "seen_at": now,
                        "failures": 0,
                    }
                    for uid in ids
                ],
            )
            rows = [
                delivery._row(
                    user_id=uid,
                    key=f"bench:{uid}",
                    category="care_team",
                    url="/",
                    due_at=now,
                    now=now,
                )
                for uid in ids
            ]
            db.exec(insert(Delivery.__table__), params=rows)

        # Plain pywebpush loop, one push per device, one after the other.
        vapid = settings.vapid_key()
        subject = app.config["VAPID_SUBJECT"]
        body = delivery.payload(
            Delivery(
                id=1,
                user_id=1,
                key="k",
                category="care_team",
                url="/",
                due_at=now,
                next_attempt_at=now,
            )
        )
        session = requests.Session()
        started = time.perf_counter()
        for uid in ids:
            webpush(
                {"endpoint": f"{origin}/push/{uid}", "keys": {"p256dh": p256dh, "auth": auth}},
                data=body,
                vapid_private_key=vapid,
                vapid_claims={"sub": subject},
                ttl=3600,
                timeout=10,
                requests_session=session,
            )
        plain = len(ids) / (time.perf_counter() - started)

        # The worker: rounds of claim, send, record, until nothing is due.
        sent = 0
        started = time.perf_counter()
        while True:
            with session_scope() as db:
                count = delivery.send(db, now)
            if not count:
                break
            sent += count
        ours = sent / (time.perf_counter() - started)
    sink.terminate()
    sink.wait(timeout=10)
    assert sent == len(ids), f"the worker sent {sent} of {len(ids)}"
    print("| sender | deliveries | per second |\n|---|---:|---:|")
    print(f"| plain pywebpush loop | {len(ids):,} | {plain:,.0f} |")
    print(
        f"| worker (`push_send`, concurrency {app.config['PUSH_CONCURRENCY']}) | {sent:,} | "
        f"{ours:,.0f} |"
    )
    print(f"\nratio worker / plain: {ours / plain:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
