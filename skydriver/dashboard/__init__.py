"""The web dashboard: static pages and plain JavaScript modules shipped in the package (no build step, no CDN),
served under /dashboard/. The pages call the REST API with the user's bearer token from session storage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tornado.web

STATIC_DIR = Path(__file__).resolve().parent / "static"

# Everything the pages load comes from SkyDriver itself; sky maps are shown from fetched blobs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob:; style-src 'self'; script-src 'self'; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class DashboardFileHandler(tornado.web.StaticFileHandler):
    def set_default_headers(self) -> None:
        self.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")


def dashboard_routes() -> list[tuple[str, type, dict[str, Any]]]:
    """`/` and `/dashboard` lead to the scan table; `/dashboard/<file>` serves the pages."""
    return [
        (r"/", tornado.web.RedirectHandler, {"url": "/dashboard/"}),
        (r"/dashboard", tornado.web.RedirectHandler, {"url": "/dashboard/"}),
        (r"/dashboard/(.*)", DashboardFileHandler, {"path": str(STATIC_DIR), "default_filename": "index.html"}),
    ]
