"""Real processes for the tests of several machines and of faults: a private PostgreSQL cluster,
a private Redis (both on Unix sockets in their own folders), gunicorn instances (on 127.0.0.1
ports they choose) and workers, each stopped by the fixture that started it, even when the test
fails.

The shared PostgreSQL and Redis of the machine are never touched: other test processes use them
at the same time, and these tests stop and restart their servers on purpose. PostgreSQL refuses
to run as root, so under root its programs run as the `postgres` user (`runuser`).

Where PostgreSQL's or Redis's programs are missing the tests are skipped with a message, except
under CI (`CI=true` or `REQUIRE_BROWSER=1`, which `.ci/run` sets), where that is a failure.
"""

from __future__ import annotations

import base64
import contextlib
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
SECRET = "several-machines-share-this-secret-key-0123456789"


def require(found: object, reason: str) -> None:
    """A missing server program: a skip on a newcomer's machine, a failure in CI."""
    if found:
        return
    if os.environ.get("REQUIRE_BROWSER") == "1" or os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI needs {reason}", pytrace=False)
    pytest.skip(reason)


def wait_for(check, timeout: float, what: str, interval: float = 0.1):
    """Poll `check()` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 10) -> None:
    """Stop a process started in its own session, and everything it started."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own, in a temporary folder, without fsync."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        require(found, "PostgreSQL's server programs (apt-get install postgresql)")
        self.bin = Path(found[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="iop-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        # A Unix socket in the cluster's own folder, no TCP port: nothing else on the machine
        # can take its address or answer in its place.
        self.url = f"postgresql+psycopg://postgres@/postgres?host={self.dir}&port=5432"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            self.dir.chmod(0o700)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        self.start()

    def _run(self, program: str, *args: str) -> None:
        argv = [str(self.bin / program), *args]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
        if done.returncode != 0:
            raise AssertionError(f"{program} failed: {done.stdout}{done.stderr}\n{tail(self.log)}")

    def start(self) -> None:
        options = (
            f"-p 5432 -c listen_addresses='' -c unix_socket_directories={self.dir} "
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=60"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every connection at once; `immediate` is a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def close(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    """A redis-server of the test's own, keeping nothing on disk. It listens on a Unix socket
    in its own folder, not on a TCP port: no other process on the machine can answer in its
    place, and none can take its address between two starts."""

    def __init__(self) -> None:
        self.program = shutil.which("redis-server")
        require(self.program, "redis-server (apt-get install redis-server)")
        self.dir = Path(tempfile.mkdtemp(prefix="iop-redis-"))
        self.socket = self.dir / "redis.sock"
        self.url = f"redis+unix://{self.socket}"
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        argv = [
            self.program,
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.dir),
        ]
        self.proc = subprocess.Popen(  # noqa: S603 - fixed argv
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        wait_for(self._answers, 10, "redis-server to start")

    def _answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(0.5)
                sock.connect(str(self.socket))
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def migrate(url: str) -> None:
    """The real migrations, on a fresh database."""
    from alembic import command

    from iop_pwa import create_app
    from iop_pwa.cli import alembic_config

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET})
    with app.app_context():
        command.upgrade(alembic_config(), "head")
    app.extensions["db_engine"].dispose()


def app_env(workdir: Path, name: str, **settings: str) -> dict[str, str]:
    """The environment of one instance: its own instance folder (nothing shared on disk), the
    shared secrets and servers in `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "TEST_DATABASE"))}
    env.update(
        INSTANCE_PATH=str(workdir / name),
        APP_ENV="development",
        SECRET_KEY=SECRET,
        SECURE_COOKIES="0",
        REDIS_URL="",
        PYTHONDONTWRITEBYTECODE="1",
        PUSH_TIMEOUT_SECONDS="5",
        TOTP_VALID_WINDOW=TOTP_WINDOW,
    )
    env.update(settings)
    return env


class Process:
    """A gunicorn instance or a worker, in its own session, its output in a log file."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.argv, self.env, self.log = argv, env, log
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(  # noqa: S603 - fixed argv
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL: the process dies where it stands, as a machine losing power."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def signal_stop(self) -> None:
        """SIGTERM without waiting, so several processes stop at the same time."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Web(Process):
    """One gunicorn instance of the app. It binds port 0 and the port is read from its log:
    a port chosen beforehand could be taken by another process meanwhile, and a check of it
    could then be answered by someone else's server."""

    LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")

    def __init__(self, env: dict[str, str], log: Path, workers: int = 1) -> None:
        argv = [
            str(BIN / "gunicorn"),
            "--bind",
            f"{HOST}:0",
            "--workers",
            str(workers),
            "--graceful-timeout",
            "2",
            "--no-control-socket",  # several instances on one machine: no shared socket path
            "app:app",
        ]
        start = log.stat().st_size if log.exists() else 0
        super().__init__(argv, env, log)

        def listening() -> int | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"gunicorn exited:\n{tail(self.log)}")
            found = self.LISTENING.search(self.output()[start:])
            return int(found.group(1)) if found else None

        self.port = wait_for(listening, 40, "gunicorn to listen", interval=0.1)
        self.base = f"http://{HOST}:{self.port}"
        self.wait_ready()

    def wait_ready(self, timeout: float = 40) -> None:
        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"gunicorn exited:\n{tail(self.log)}")
            try:
                return requests.get(self.base + "/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for(up, timeout, f"gunicorn on {self.port}", interval=0.2)

    def url(self, path: str) -> str:
        return self.base + path


class Worker(Process):
    """One `flask worker`, a round every second."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        argv = [str(BIN / "flask"), "--app", "app", "worker", "--interval", "1"]
        super().__init__(argv, env, log)


def vapid_pair() -> tuple[str, str]:
    """A VAPID key every instance and worker shares (PEM), and its public key as browsers see it."""
    from cryptography.hazmat.primitives import serialization
    from py_vapid import Vapid

    key = Vapid()
    key.generate_keys()
    public = key.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return key.private_pem().decode(), base64.urlsafe_b64encode(public).rstrip(b"=").decode()


CSRF = re.compile(r'"X-CSRFToken": "([^"]+)"')


def csrf_token(browser: requests.Session, url: str) -> str:
    page = browser.get(url, timeout=10)
    match = CSRF.search(page.text)
    assert match, f"no CSRF token on {url} ({page.status_code})"
    return match.group(1)


STAFF_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
TOTP_WINDOW = "10"  # steps either side of now: each sign-in of the test takes the next code
_codes_given: dict[str, int] = {}


def give_staff_an_app(db, user_id: int) -> None:
    """Staff sign in with a second factor: give this person an authenticator app with
    STAFF_TOTP_SECRET."""
    from iop_pwa.accounts.models import TotpFactor
    from iop_pwa.db import utcnow

    db.add(TotpFactor(user_id=user_id, secret=STAFF_TOTP_SECRET, confirmed_at=utcnow()))


def participant_with_a_phone(db, push, email: str, name: str, phone: str) -> int:
    """A participant in New York with one device subscribed at `push` (the fake push service);
    returns their id."""
    from iop_pwa.accounts import services
    from iop_pwa.accounts.models import Role, User
    from iop_pwa.push import services as push_services
    from tests.conftest import PASSWORD

    person = services.create_user(
        db,
        role=Role.participant,
        email=email,
        password=PASSWORD,
        name=name,
        timezone="America/New_York",
    )
    db.flush()
    push_services.subscribe(
        db,
        user=db.get(User, person.id),
        body=push.subscription(phone),
        user_agent="Mozilla/5.0 (Linux; Android 14) Chrome/130.0 Mobile",
    )
    return person.id


def _next_code(email: str) -> str:
    """The app's code, never one already typed for this person (each code works once)."""
    import pyotp

    now = int(time.time()) // 30
    step = max(now, _codes_given.get(email, now - 1) + 1)
    _codes_given[email] = step
    return pyotp.TOTP(STAFF_TOTP_SECRET).at(step * 30)


def sign_in(browser: requests.Session, web: Web, email: str, password: str) -> None:
    """Sign in through the real form of `web` (and its second step, where staff have one)."""
    token = csrf_token(browser, web.url("/sign-in"))
    answer = browser.post(
        web.url("/sign-in"),
        data={"csrf_token": token, "email": email, "password": password},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 303, answer.text[:300]
    if answer.headers["Location"].split("?")[0].endswith("/sign-in/second-factor"):
        step = web.url("/sign-in/second-factor")
        answer = browser.post(
            step,
            data={"csrf_token": csrf_token(browser, step), "code": _next_code(email)},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 303, answer.text[:300]
    assert "/sign-in" not in answer.headers["Location"]
