"""/api/docs: Swagger UI over /api/openapi.json. Its files come from the swagger-ui-py
package (Swagger UI 5, which reads OpenAPI 3.1) and are served by Twofold itself, nothing
fetched from elsewhere; a script file of ours starts it, so the site's
Content-Security-Policy (script-src 'self', no inline script) holds."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse

from twofold.core import words
from twofold.web.api.errors import ApiError

ASSETS = "/docs/assets"
# The only files served from the package (it holds Swagger Editor too).
ASSET_TYPES = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
}


def assets_dir() -> Path:
    """The package's static folder, found without importing it (its __init__ loads adapters
    for other web frameworks)."""
    spec = find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - a dependency
        raise RuntimeError("the swagger-ui-py package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


_START = """window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-schema"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
"""


def _page(base: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Twofold API</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{base}{ASSETS}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-schema="{base}/openapi.json"></div>
<script src="{base}{ASSETS}/swagger-ui-bundle.js"></script>
<script src="{base}/docs/start.js"></script>
</body>
</html>
"""


def install_docs(api: FastAPI) -> None:
    folder = assets_dir()

    @api.get(ASSETS + "/{name}", include_in_schema=False)
    def asset(name: str) -> FileResponse:
        if name not in ASSET_TYPES:
            raise ApiError(404, "not_found", words.NO_PAGE_HERE)
        return FileResponse(folder / name, media_type=ASSET_TYPES[name])

    @api.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        return HTMLResponse(_page(request.scope.get("root_path", "")))

    @api.get("/docs/start.js", include_in_schema=False)
    def start() -> PlainTextResponse:
        return PlainTextResponse(_START, media_type="text/javascript")
