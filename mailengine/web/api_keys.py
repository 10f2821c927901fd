"""Bearer API keys: only their sha256 is configured and compared, in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mailengine.web.context import web_context
from mailengine.web.schemas import Problem

KEY_PREFIX = "me_"

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key whose sha256 (hex) is listed in the settings.",
)


def new_api_key() -> str:
    """A fresh random key to hand to a shop system (store only `hash_api_key` of it)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """The sha256 hex of a key: what the settings hold. Keys are random, so no salt is needed."""
    return hashlib.sha256(key.strip().encode("utf-8")).hexdigest()


def is_known_key(digest: str, known: frozenset[str]) -> bool:
    """Compare against every configured hash, each in constant time."""
    found = False
    for candidate in known:
        found |= hmac.compare_digest(digest.encode(), candidate.lower().encode())
    return found


async def api_client(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    """The hash of the caller's API key; 401 without a known key."""
    known = web_context(request).api_key_hashes
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("send the header 'Authorization: Bearer <API key>'")
    digest = hash_api_key(credentials.credentials)
    if not known or not is_known_key(digest, known):
        raise _unauthorized("the API key is not known")
    return digest


Client = Annotated[str, Depends(api_client)]


def api_router(tag: str = "api") -> APIRouter:
    """A router under /v1 for operations that take an API key (and an Idempotency-Key)."""
    return APIRouter(
        prefix="/v1",
        tags=[tag],
        responses={
            401: {"model": Problem, "description": "No API key, or an unknown one"},
            409: {
                "model": Problem,
                "description": "The Idempotency-Key was used for another request",
            },
        },
    )


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )
