"""The web layer: server-rendered pages (and later the JSON API) over the services."""
