"""Server-rendered pages; each handler calls one service and renders or redirects."""
