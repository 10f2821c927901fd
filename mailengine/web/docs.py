"""The API's documentation page: Swagger UI from assets the app serves itself, under a CSP.

FastAPI's own `/docs` loads Swagger UI from a CDN. Here the scripts and styles come from
`web/static/` (vendored at a pinned version, see its README), the page has no inline script,
and a Content-Security-Policy allows nothing from elsewhere. `http.docs: false` turns the
page and `/openapi.json` off.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

STATIC_FOLDER = Path(__file__).parent / "static"
STATIC_PATH = "/static"
# Swagger UI sets style attributes from its scripts: styles may be inline, scripts may not.
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mailengine API</title>
<link rel="icon" type="image/png" href="{STATIC_PATH}/swagger-ui/favicon-32x32.png">
<link rel="stylesheet" href="{STATIC_PATH}/swagger-ui/swagger-ui.css">
</head>
<body data-openapi="/openapi.json">
<div id="swagger-ui"></div>
<script src="{STATIC_PATH}/swagger-ui/swagger-ui-bundle.js"></script>
<script src="{STATIC_PATH}/docs-init.js"></script>
</body>
</html>
"""

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def docs_page() -> HTMLResponse:
    return HTMLResponse(
        _PAGE,
        headers={
            "Content-Security-Policy": DOCS_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )
