"""A real nginx for the deployment tests: where its binary is, and the minimal top level a
test prefix needs around the server block each test writes (the docs' block, or its own)."""

from __future__ import annotations

import shutil
from pathlib import Path

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

_AROUND_SERVER = """
worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{server}
}}
"""


def nginx_config(prefix: Path, server: str) -> str:
    """A whole nginx.conf for a run in `prefix` serving `server` (an nginx server block)."""
    return _AROUND_SERVER.format(prefix=prefix, server=server)
