"""Password hashing with Argon2id (argon2-cffi's defaults meet OWASP's recommendation)."""

from __future__ import annotations

from argon2 import Parameters, PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8
MAX_LENGTH = 256

_hasher = PasswordHasher()
# Verified when the email is unknown, so a failed sign-in takes as long whether or not it exists.
_DUMMY_HASH = _hasher.hash("not a real password, only for timing")


def use_parameters(parameters: Parameters) -> None:
    """Swap the Argon2 cost parameters (the test suite uses argon2's cheapest profile for speed;
    hashes made with other parameters still verify, and are upgraded at the next sign-in)."""
    global _hasher, _DUMMY_HASH
    _hasher = PasswordHasher.from_parameters(parameters)
    _DUMMY_HASH = _hasher.hash("not a real password, only for timing")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
