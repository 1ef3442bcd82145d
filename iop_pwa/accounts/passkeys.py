"""Passkeys (WebAuthn, with py_webauthn): a participant signs in with the phone's lock (Face ID,
fingerprint, PIN) instead of a password; staff use one as their second factor.

The relying party is the site of `PUBLIC_URL` (its host is the RP id, its origin the expected
origin); without PUBLIC_URL (a laptop's `make run`) the request's own host. A challenge is kept
on the server (`WebAuthnChallenge`: its hash, purpose and expiry, a few minutes away) and deleted
when an answer to it is accepted, so a captured answer cannot be replayed (a challenge in the
session cookie could: an old copy of the cookie still carried it). Passkeys are discoverable and
always ask for the phone's lock (user verification), so a passkey alone is two factors: the
phone, and the face, finger or PIN that unlocks it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app, request
from sqlmodel import Session, col, delete, select
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from iop_pwa.accounts.models import Passkey, User, WebAuthnChallenge
from iop_pwa.db import utcnow

RP_NAME = "IOP Companion"
CHALLENGE_SECONDS = 300
MAX_PASSKEYS = 10


class PasskeyError(ValueError):
    """A passkey that could not be added or used, with words fit to show the person."""


def relying_party() -> tuple[str, str]:
    """(RP id, origin) from PUBLIC_URL, or from this request where PUBLIC_URL is not set."""
    base = current_app.config.get("PUBLIC_URL") or request.host_url.rstrip("/")
    parts = urlsplit(base)
    return parts.hostname or "localhost", f"{parts.scheme}://{parts.netloc}"


def _challenge_hash(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


def _remember(db: Session, purpose: str, challenge: bytes) -> None:
    """Keep the challenge just given out (its hash) until it is used or expires; forget the
    expired ones."""
    now = utcnow()
    db.exec(delete(WebAuthnChallenge).where(col(WebAuthnChallenge.expires_at) <= now))
    db.add(
        WebAuthnChallenge(
            challenge_hash=_challenge_hash(challenge),
            purpose=purpose,
            expires_at=now + timedelta(seconds=CHALLENGE_SECONDS),
        )
    )


def _answered_challenge(credential) -> bytes | None:
    """The challenge the authenticator signed, read from the answer's clientDataJSON (the
    signature check then proves it)."""
    try:
        client_data = json.loads(base64url_to_bytes(credential["response"]["clientDataJSON"]))
        challenge = client_data["challenge"]
        return base64url_to_bytes(challenge) if isinstance(challenge, str) else None
    except (ValueError, KeyError, TypeError):
        return None


def _take_challenge(db: Session, purpose: str, credential) -> bytes:
    """The challenge this answer is to, if the server gave it out for `purpose` and it has not
    expired; deleted now, so it is used once (a replay finds none). The deletion commits with a
    request that succeeds."""
    challenge = _answered_challenge(credential)
    if challenge is None or len(challenge) > 1024:
        raise PasskeyError("This passkey could not be used. Please try again.")
    taken = db.exec(
        delete(WebAuthnChallenge).where(
            col(WebAuthnChallenge.challenge_hash) == _challenge_hash(challenge),
            col(WebAuthnChallenge.purpose) == purpose,
            col(WebAuthnChallenge.expires_at) > utcnow(),
        )
    ).rowcount
    if taken != 1:
        raise PasskeyError("That took too long or was already used. Please try again.")
    return challenge


def _as_dict(credential: dict | str):
    try:
        data = json.loads(credential) if isinstance(credential, str) else credential
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def passkeys_of(db: Session, user: User) -> list[Passkey]:
    return list(
        db.exec(select(Passkey).where(Passkey.user_id == user.id).order_by(Passkey.created_at))
    )


def registration_options(db: Session, *, user: User) -> dict:
    """Options for navigator.credentials.create(): a discoverable passkey that asks for the
    phone's lock, not one the person already has on this authenticator."""
    rp_id, _ = relying_party()
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=RP_NAME,
        user_id=f"iop-user-{user.id}".encode(),
        user_name=user.email,
        user_display_name=user.name,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id))
            for p in passkeys_of(db, user)
        ],
    )
    _remember(db, f"register:{user.id}", options.challenge)
    return json.loads(options_to_json(options))


def add(db: Session, *, user: User, credential: dict | str, name: str) -> Passkey:
    """Check the authenticator's answer to `registration_options` and keep the public key."""
    if len(passkeys_of(db, user)) >= MAX_PASSKEYS:
        raise PasskeyError(f"You have {MAX_PASSKEYS} passkeys. Remove one to add another.")
    data = _as_dict(credential)
    challenge = _take_challenge(db, f"register:{user.id}", data)
    rp_id, origin = relying_party()
    try:
        verified = verify_registration_response(
            credential=data,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise PasskeyError("This passkey could not be added. Please try again.") from exc
    credential_id = bytes_to_base64url(verified.credential_id)
    if db.exec(select(Passkey).where(Passkey.credential_id == credential_id)).first():
        raise PasskeyError("This passkey is already added.")
    passkey = Passkey(
        user_id=user.id,
        credential_id=credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name=" ".join((name or "").split())[:60] or "Passkey",
    )
    db.add(passkey)
    db.flush()
    return passkey


def authentication_options(db: Session, *, user: User | None = None) -> dict:
    """Options for navigator.credentials.get(): any passkey of this site (the phone offers the
    person's own), or only `user`'s when they are known (a second factor, "Confirm it's you")."""
    rp_id, _ = relying_party()
    allow = (
        [
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id))
            for p in passkeys_of(db, user)
        ]
        if user is not None
        else []
    )
    options = generate_authentication_options(
        rp_id=rp_id, allow_credentials=allow, user_verification=UserVerificationRequirement.REQUIRED
    )
    _remember(db, f"sign-in:{user.id if user else ''}", options.challenge)
    return json.loads(options_to_json(options))


def verify(db: Session, *, credential: dict | str, user: User | None = None) -> Passkey:
    """The passkey that answered `authentication_options` (which must be `user`'s, when given),
    its use counted. Raises PasskeyError for anything else."""
    data = _as_dict(credential)
    challenge = _take_challenge(db, f"sign-in:{user.id if user else ''}", data)
    raw_id = data.get("rawId") if data is not None else None
    if not isinstance(raw_id, str) or len(raw_id) > 1400:
        raise PasskeyError("This passkey could not be used. Please try again.")
    passkey = db.exec(select(Passkey).where(Passkey.credential_id == raw_id)).first()
    if passkey is None or (user is not None and passkey.user_id != user.id):
        raise PasskeyError("This passkey is not known here. Sign in with your password.")
    rp_id, origin = relying_party()
    try:
        verified = verify_authentication_response(
            credential=data,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise PasskeyError("This passkey could not be used. Please try again.") from exc
    passkey.sign_count = verified.new_sign_count
    passkey.last_used_at = utcnow()
    db.add(passkey)
    return passkey
