"""A push service on loopback for tests: a real HTTP server in a thread that checks what a
browser's push service checks, and can answer as a failing one would.

For every POST it verifies the VAPID JWT (ES256 signature with the key in `k`, which must be
the app's; `aud` this server's origin; `exp` in the future and at most 24 hours away; `sub` a
mailto: or https: address), the headers (TTL, Urgency, Topic, Content-Encoding) and decrypts
the body with http_ece, using the key pair and auth secret the test made the way a browser does
(`subscription()`). A request failing a check is answered 400 and its reason kept in `errors`.
`answer(name, ...)` queues what the next requests to that subscription get: a status with
headers (404, 410, 429 with Retry-After, 500, a redirect) or "slow" (no answer for a while);
`delay_seconds` makes every accepted push take that long (a batch a worker can be killed in).
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

URGENCIES = {"very-low", "low", "normal", "high"}
B64URL = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Received:
    """A push that passed every check: which subscription, its headers, its decrypted payload
    and the VAPID claims it carried."""

    name: str
    headers: dict  # lower-case names
    payload: dict
    claims: dict


@dataclass
class _Browser:
    key: ec.EllipticCurvePrivateKey
    auth: bytes


@dataclass
class FakePushService:
    app_public_key: str  # the VAPID key the app must sign with (base64url, uncompressed point)
    slow_seconds: float = 5.0
    delay_seconds: float = 0.0  # every accepted push takes this long (a slow push service)
    received: list[Received] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # every path asked, passed or not

    def __post_init__(self) -> None:
        self._browsers: dict[str, _Browser] = {}
        self._answers: dict[str, list] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    # --- for tests ---

    def subscription(self, name: str) -> dict:
        """A subscription as `PushSubscription.toJSON()` gives it, with keys made as a browser
        makes them (a P-256 key pair and a 16-byte auth secret)."""
        key = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        self._browsers[name] = _Browser(key, auth)
        public = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": f"{self.origin}/push/{name}",
            "expirationTime": None,
            "keys": {"p256dh": b64(public), "auth": b64(auth)},
        }

    def answer(self, name: str, *answers) -> None:
        """What the next requests to `name` get, in order: (status, {headers}) or "slow"."""
        with self._lock:
            self._answers.setdefault(name, []).extend(answers)

    def for_(self, name: str) -> list[Received]:
        return [r for r in self.received if r.name == name]

    def stop(self) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()

    # --- checks ---

    def _check_vapid(self, authorization: str) -> dict:
        if not authorization.startswith("vapid "):
            raise ValueError("Authorization is not 'vapid t=..., k=...'")
        parts = dict(
            item.strip().split("=", 1) for item in authorization[6:].split(",") if "=" in item
        )
        token, key = parts.get("t", ""), parts.get("k", "")
        if key != self.app_public_key:
            raise ValueError("k is not the app's VAPID public key")
        header_b64, claims_b64, signature_b64 = token.split(".")
        header = json.loads(unb64(header_b64))
        if header.get("alg") != "ES256":
            raise ValueError(f"alg is {header.get('alg')}")
        signature = unb64(signature_b64)
        if len(signature) != 64:
            raise ValueError("the signature is not 64 bytes (r||s)")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(key))
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            public.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature as exc:
            raise ValueError("the VAPID signature does not verify") from exc
        claims = json.loads(unb64(claims_b64))
        if claims.get("aud") != self.origin:
            raise ValueError(f"aud is {claims.get('aud')!r}, not {self.origin!r}")
        exp = int(claims.get("exp", 0))
        if not time.time() < exp <= time.time() + 24 * 3600:
            raise ValueError("exp is not within the next 24 hours")
        sub = str(claims.get("sub", ""))
        if not (sub.startswith("mailto:") or sub.startswith("https:")) or "localhost" in sub:
            raise ValueError(f"sub {sub!r} is not a mailto: or https: address")
        return claims

    def _check_headers(self, headers) -> None:
        ttl = headers.get("TTL")
        if ttl is None or not ttl.isdigit() or int(ttl) <= 0:
            raise ValueError(f"TTL is {ttl!r} (0 drops the message when the phone sleeps)")
        if headers.get("Urgency", "normal") not in URGENCIES:
            raise ValueError(f"Urgency is {headers.get('Urgency')!r}")
        topic = headers.get("Topic")
        if topic is not None and (len(topic) > 32 or not set(topic) <= B64URL):
            raise ValueError(f"Topic {topic!r} is not at most 32 base64url characters")
        if headers.get("Content-Encoding") != "aes128gcm":
            raise ValueError("Content-Encoding is not aes128gcm")

    def _handler(self):
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _reply(self, status: int, headers: dict | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                name = self.path.rsplit("/", 1)[-1]
                with service._lock:
                    service.requests.append(self.path)
                    queued = service._answers.get(name) or []
                    planned = queued.pop(0) if queued else None
                if planned == "slow":
                    service._stopping.wait(service.slow_seconds)
                    return self._reply(201)
                browser = service._browsers.get(name)
                try:
                    if browser is None:
                        raise ValueError(f"unknown subscription {name!r}")
                    claims = service._check_vapid(self.headers.get("Authorization", ""))
                    service._check_headers(self.headers)
                    plain = http_ece.decrypt(
                        body, private_key=browser.key, auth_secret=browser.auth, version="aes128gcm"
                    )
                    payload = json.loads(plain)
                except Exception as exc:  # every failed check is kept for the test to see
                    with service._lock:
                        service.errors.append(f"{name}: {exc}")
                    return self._reply(400)
                if planned is not None:
                    status, headers = planned
                    return self._reply(status, headers)
                if service.delay_seconds:
                    service._stopping.wait(service.delay_seconds)
                with service._lock:
                    service.received.append(
                        Received(
                            name, {k.lower(): v for k, v in self.headers.items()}, payload, claims
                        )
                    )
                return self._reply(201, {"Location": f"{service.origin}/message/{name}"})

        return Handler
