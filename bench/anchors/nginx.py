"""Anchor (iii): Debian's nginx (`apt-get install nginx-light`) serving the hot path's answer body as a static
file, with its Content-Type, from a config generated in the bench's temporary directory: the same number of worker
processes as serve, the access log off (serve logs every request; the bare app (i) does not either), keep-alive
connections never closed for their number of requests (granian and serve do not close them either)."""

from pathlib import Path
from typing import Final

NGINX: Final = "/usr/sbin/nginx"
BODY: Final = "prompt.body"

CONFIG: Final = """\
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
daemon off;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000000;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    types {{ }}
    default_type "{content_type}";
    server {{
        listen 127.0.0.1:{port};
        root {prefix};
        location / {{ try_files /{body} =404; }}
    }}
}}
"""


def config(prefix: Path, port: int, workers: int, content_type: str) -> str:
    """Every path answers the file (/health too, for the bench's readiness check)."""
    if '"' in content_type or "\n" in content_type:
        raise ValueError(f"a Content-Type nginx's config cannot quote: {content_type!r}")
    return CONFIG.format(prefix=prefix, port=port, workers=workers, content_type=content_type, body=BODY)


def command(prefix: Path) -> list[str]:
    """nginx in the foreground on the config in `prefix`; -e: its error log before it reads the config too."""
    return [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")]


def prepare(prefix: Path, port: int, workers: int, content_type: str, body: bytes) -> list[str]:
    """Writes the config and the file into `prefix` (readable by nginx's workers, `nobody` under root)."""
    prefix.mkdir(mode=0o755, parents=True, exist_ok=True)
    (prefix / BODY).write_bytes(body)
    (prefix / BODY).chmod(0o644)
    (prefix / "nginx.conf").write_text(config(prefix, port, workers, content_type))
    return command(prefix)
