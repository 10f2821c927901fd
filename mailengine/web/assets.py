"""The templates' images at their content-hashed URLs, cached by mail clients for a year.

`/assets/logo.1a2b3c4d5e.png` is the picture whose content hashes to that name (see
`render.assets`): it never changes, so it is `immutable`. The plain name (`/assets/logo.png`,
in mail sent before names were hashed) answers with the current picture, cached for a day.
Only the catalogue's files are served: no path from the URL reaches the file system.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response

from mailengine.render.assets import AssetCatalog

ASSETS_PATH = "/assets"
IMMUTABLE = "public, max-age=31536000, immutable"
CURRENT = "public, max-age=86400"
_NOT_FOUND = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def add_asset_routes(app: FastAPI, catalog: AssetCatalog) -> None:
    """Serve `catalog` under /assets/."""
    router = APIRouter(tags=["assets"])

    @router.get(
        ASSETS_PATH + "/{name:path}",
        summary="An image of the templates",
        include_in_schema=False,
        response_class=Response,
        responses={200: {"content": {"image/png": {}}}, 404: {"description": "No such image"}},
    )
    def asset(name: str) -> Response:
        found = catalog.published(name)
        cache = IMMUTABLE
        if found is None:
            found, cache = catalog.current(name), CURRENT
        if found is None:
            return Response(status_code=404, headers=_NOT_FOUND)
        return Response(
            found.path.read_bytes(),
            media_type=found.content_type,
            headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"},
        )

    app.include_router(router)
