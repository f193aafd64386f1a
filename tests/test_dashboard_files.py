"""The dashboard's files as SkyDriver serves them: shipped in the package, nothing loaded from elsewhere (no CDN, no
build step), a Content-Security-Policy that enforces it, no cookies. The pages themselves run in test_dashboard_browser."""

from __future__ import annotations

import re

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from skydriver.dashboard import STATIC_DIR
from skydriver.server import SkyDriver

# what would fetch from another origin: absolute or protocol-relative URLs in src/href/import/url()/fetch
EXTERNAL = re.compile(r"""(src|href)\s*=\s*["'](https?:)?//|from\s+["'](https?:)?//|url\(\s*["']?(https?:)?//|fetch\(\s*["'](https?:)?//""")


async def fetch(url: str) -> object:
    request = HTTPRequest(url, follow_redirects=False)
    return await AsyncHTTPClient().fetch(request, raise_error=False)


async def test_the_root_leads_to_the_scan_table(driver: SkyDriver) -> None:
    for path in ("/", "/dashboard"):
        response = await fetch(driver.address + path)
        assert (response.code, response.headers["Location"]) == (301, "/dashboard/")


async def test_every_page_file_is_served_from_the_package_under_a_same_origin_policy(driver: SkyDriver) -> None:
    files = sorted(path.name for path in STATIC_DIR.iterdir())
    assert {"index.html", "scan.html", "api.js", "scans.js", "scan.js", "dashboard.css"} <= set(files)
    for name in files:
        response = await fetch(f"{driver.address}/dashboard/{name}")
        assert response.code == 200 and response.body == (STATIC_DIR / name).read_bytes()
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
        assert "Set-Cookie" not in response.headers
        assert not EXTERNAL.search(response.body.decode()), f"{name} loads something from another origin"
    index = await fetch(f"{driver.address}/dashboard/")
    assert index.code == 200 and index.body == (STATIC_DIR / "index.html").read_bytes()


def test_the_token_is_kept_for_the_tab_and_sent_as_a_header_never_as_a_cookie() -> None:
    api = (STATIC_DIR / "api.js").read_text()
    assert "sessionStorage" in api and "Authorization: `Bearer ${token}`" in api
    assert not re.search(r"document\.cookie|localStorage|credentials\s*:", "".join(p.read_text() for p in STATIC_DIR.glob("*.js")))
