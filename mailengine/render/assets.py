"""The images of the templates (`templates/assets/`) under content-hashed names.

`logo.png` is published as `logo.1a2b3c4d5e.png`: the name changes when the picture does, so
the HTTP app can tell mail clients to keep it for a year, and a mail sent last month still
shows the picture it was sent with for as long as that file is kept. Templates name an asset
by its plain path, `{{ 'logo.png' | asset_url }}`, and get the absolute hashed URL under the
message's `links.assets_url` (`http.public_url` + `/assets`).

It imports only the standard library and Jinja.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context

ASSETS_FOLDER = "assets"
# What may be published, by suffix: pictures mail clients show (no SVG: most do not).
CONTENT_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
HASH_LENGTH = 10
# An asset larger than this is left out (and named by `problems`): mail images are small.
MAX_ASSET_BYTES = 2 * 1024 * 1024
_HASHED = re.compile(rf"^(?P<stem>.+)\.(?P<hash>[0-9a-f]{{{HASH_LENGTH}}})(?P<suffix>\.[a-z]+)$")


_ABSOLUTE = re.compile(r"^https?://", re.I)


class UnknownAssetError(LookupError):
    """A template names an asset that is not in the assets folder."""


@dataclass(frozen=True, slots=True)
class Asset:
    name: str  # `favourites/oxford-shirt.png`, under the assets folder
    hashed_name: str  # `favourites/oxford-shirt.1a2b3c4d5e.png`
    path: Path
    content_type: str
    size: int


class AssetCatalog:
    """The publishable files under one assets folder, hashed once when first asked for.

    With `auto_reload`, a file changed on disk is hashed again on the next look-up (at most
    once a listing: the folder is listed again each time, for the studio's editing loop).
    """

    def __init__(self, folder: Path, *, auto_reload: bool = False) -> None:
        self.folder = Path(folder)
        self._auto_reload = auto_reload
        self._lock = threading.Lock()
        self._by_name: dict[str, Asset] | None = None
        self._by_hashed: dict[str, Asset] = {}
        self._stamps: tuple[tuple[str, int, int], ...] = ()
        self.problems: list[str] = []

    def _assets(self) -> dict[str, Asset]:
        by_name = self._by_name
        if by_name is not None and not (self._auto_reload and self._stamps != self._stamp()):
            return by_name
        with self._lock:
            stamps = self._stamp()
            if self._by_name is None or stamps != self._stamps:
                self._load(stamps)
            assert self._by_name is not None
            return self._by_name

    def _stamp(self) -> tuple[tuple[str, int, int], ...]:
        if not self.folder.is_dir():
            return ()
        stamps = []
        for file in sorted(self.folder.rglob("*")):
            if file.suffix.lower() in CONTENT_TYPES and file.is_file():
                info = file.stat()
                stamps.append(
                    (file.relative_to(self.folder).as_posix(), info.st_mtime_ns, info.st_size)
                )
        return tuple(stamps)

    def _load(self, stamps: tuple[tuple[str, int, int], ...]) -> None:
        by_name: dict[str, Asset] = {}
        problems = []
        for name, _, size in stamps:
            if size > MAX_ASSET_BYTES:
                problems.append(f"{ASSETS_FOLDER}/{name} is larger than {MAX_ASSET_BYTES} bytes")
                continue
            path = self.folder / name
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:HASH_LENGTH]
            pure = PurePosixPath(name)
            hashed = pure.with_name(f"{pure.stem}.{digest}{pure.suffix}").as_posix()
            content_type = CONTENT_TYPES[pure.suffix.lower()]
            by_name[name] = Asset(name, hashed, path, content_type, size)
        # Names already handed out keep resolving while the process lives (a file replaced
        # under a running server: mail rendered before still shows the picture).
        self._by_hashed.update({asset.hashed_name: asset for asset in by_name.values()})
        self._by_name = by_name
        self._stamps = stamps
        self.problems = problems

    def names(self) -> list[str]:
        return sorted(self._assets())

    def hashed_name(self, name: str) -> str:
        """`logo.png` → `logo.1a2b3c4d5e.png`; UnknownAssetError names what the folder has."""
        assets = self._assets()
        asset = assets.get(name.strip().lstrip("/"))
        if asset is None:
            known = ", ".join(sorted(assets)) or "nothing"
            raise UnknownAssetError(
                f"no image {name!r} in {self.folder.parent.name}/{ASSETS_FOLDER}/ "
                f"(it has {known}); add the file or fix the name"
            )
        return asset.hashed_name

    def published(self, hashed_name: str) -> Asset | None:
        """The asset published under `hashed_name`, or None."""
        self._assets()
        return self._by_hashed.get(hashed_name)

    def current(self, name: str) -> Asset | None:
        """The asset under its plain name (links made before names were hashed), or None."""
        return self._assets().get(name)

    def is_hashed(self, name: str) -> bool:
        return _HASHED.match(name) is not None


def asset_url_filter(catalog: AssetCatalog) -> Any:
    """The `asset_url` filter: `{{ 'logo.png' | asset_url }}` → `<assets_url>/logo.<hash>.png`."""

    @pass_context
    def asset_url(context: Context, name: str) -> str:
        if _ABSOLUTE.match(str(name)):
            return str(name)  # a picture hosted elsewhere (a broadcast's product image)
        links = context.get("links")
        base = links.get("assets_url") if isinstance(links, Mapping) else None
        if not base:
            raise UnknownAssetError("asset_url needs links.assets_url in the context")
        return f"{str(base).rstrip('/')}/{catalog.hashed_name(str(name))}"

    return asset_url
