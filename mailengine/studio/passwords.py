"""Passwords of studio users: Argon2id hashes (argon2-cffi, RFC 9106 parameters), the rules a
new password must meet, and generated ones.

A log-in for an address without an account still verifies against a hash of its own, so the
answer takes as long as for a wrong password: timing does not tell who has an account.
"""

from __future__ import annotations

import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from mailengine.errors import MailengineError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # hashing a megabyte-long "password" on every try would be a cheap attack
_hasher = PasswordHasher()  # Argon2id, RFC 9106 low-memory profile: t=3, 64 MiB, p=4


class WeakPasswordError(MailengineError, ValueError):
    """A new password that is too short, too long or spaces only."""


def check_new_password(password: str) -> str:
    """The password, or an error saying what a password needs."""
    if not password.strip():
        raise WeakPasswordError("the password is empty")
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(
            f"the password has {len(password)} characters; it needs at least {MIN_LENGTH} "
            "(a few words make a good one), or use --generate-password"
        )
    if len(password) > MAX_LENGTH:
        raise WeakPasswordError(f"the password is longer than {MAX_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_new_password(password))


def rehashed(password: str) -> str:
    """A password that matched, hashed again with today's parameters (no rules applied:
    they are for new passwords)."""
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether `password` is the one hashed; without a hash, the same work and False."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        matched = _hasher.verify(password_hash or _stand_in_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return matched and password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)


def generate_password() -> str:
    """20 random URL-safe characters (120 bits)."""
    return secrets.token_urlsafe(15)


@cache
def _stand_in_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))
