"""`make run`: the web server (gunicorn) and the background worker together, stopped together.

A newcomer never starts two things by hand; Ctrl-C (or SIGTERM) stops both, and if either dies the
other is stopped too, so nothing is left running half-alive.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", default=os.environ.get("PORT", "8000"))
    parser.add_argument("--workers", default=os.environ.get("WEB_CONCURRENCY", "2"))
    args = parser.parse_args(argv)

    bin_dir = os.path.dirname(sys.executable)
    children = [
        subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [
                os.path.join(bin_dir, "gunicorn"),
                "--bind",
                f"{args.host}:{args.port}",
                "--workers",
                str(args.workers),
                "--graceful-timeout",
                "5",
                # gunicorn's control socket is one path per machine: a second instance (a
                # benchmark, another checkout) would take it over.
                "--no-control-socket",
                "app:app",
            ]
        ),
        subprocess.Popen(  # noqa: S603
            [os.path.join(bin_dir, "flask"), "--app", "app", "worker"]
        ),
    ]

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for child in children:
            if child.poll() is not None:
                exit_code = child.returncode or 1
                stopping = True
        time.sleep(0.3)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
