"""/api/docs: Swagger UI over /api/openapi.json, its files served by Twofold from the
swagger-ui-bundle package (nothing fetched from elsewhere) and started by a script file of
ours, so the site's Content-Security-Policy (script-src 'self', no inline script) holds."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

ASSETS = "/docs/assets"

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
    api.mount(ASSETS, StaticFiles(directory=str(Path(str(swagger_ui_path)))), name="docs-assets")

    @api.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        return HTMLResponse(_page(request.scope.get("root_path", "")))

    @api.get("/docs/start.js", include_in_schema=False)
    def start() -> PlainTextResponse:
        return PlainTextResponse(_START, media_type="text/javascript")
