"""The key that signs links and bounce addresses: from the environment, else a local file.

Production sets MAILENGINE_SECRET_KEY. The embedded default (`make run`) keeps a random key in
`var/secret_key`, made on first use and readable only by its owner, so links keep working
across restarts.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from mailengine.config import Settings

KEY_FILE_NAME = "secret_key"


def secret_key(settings: Settings) -> bytes:
    if settings.secret_key is not None:
        value = settings.secret_key.get_secret_value()
        if len(value) < 16:
            raise ValueError("MAILENGINE_SECRET_KEY must be at least 16 characters long")
        return value.encode()
    return _local_key(settings.paths.var / KEY_FILE_NAME)


def _local_key(path: Path) -> bytes:
    try:
        return path.read_text(encoding="ascii").strip().encode()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it a moment ago
        return path.read_text(encoding="ascii").strip().encode()
    try:
        os.write(descriptor, key.encode())
    except BaseException:
        os.close(descriptor)
        raise
    os.close(descriptor)
    return key.encode()
