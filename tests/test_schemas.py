"""schemas/ is generated from the route table and the models: these fail when someone changes either and forgets to
regenerate, or when the router and the OpenAPI document disagree."""

from __future__ import annotations

import tornado.httputil
import tornado.web
from rest_tools.server import RestServer

from skydriver.docs import routes_table
from skydriver.openapi import SCHEMAS_DIR, generated_files, openapi_document
from skydriver.rest.routes import HTTP_METHODS, ROUTES, UnknownRouteHandler, add_routes

SCAN_ID = "0123456789abcdef" * 2


def test_committed_schemas_match_the_models() -> None:
    stale = [name for name, content in generated_files().items()
             if not (SCHEMAS_DIR / name).exists() or (SCHEMAS_DIR / name).read_text() != content]  # fmt: skip
    assert not stale, f"schemas/ is stale ({', '.join(stale)}): run `make schemas`"


def _tornado_app() -> tornado.web.Application:
    """The URL map exactly as the server builds it."""
    server = RestServer()
    add_routes(server, {})
    return tornado.web.Application(server.routes, **server.app_args)


def _routed_handler(app: tornado.web.Application, method: str, path: str) -> type:
    start_line = tornado.httputil.RequestStartLine(method.upper(), path, "HTTP/1.1")
    headers = tornado.httputil.HTTPHeaders({"Host": "localhost"})
    request = tornado.httputil.HTTPServerRequest(start_line=start_line, headers=headers)
    delegate = app.find_handler(request)
    return delegate.handler_class  # type: ignore[attr-defined,no-any-return]


def test_router_and_openapi_document_agree() -> None:
    """Every documented operation is routed to a handler method declaring the same roles and models, and every
    method a routed handler serves is documented."""
    app, paths = _tornado_app(), openapi_document()["paths"]
    assert set(paths) == {route.path for route in ROUTES}
    for route in ROUTES:
        handler = _routed_handler(app, "get", route.path.replace("{scan_id}", SCAN_ID))
        assert handler is route.handler, route.path  # no earlier pattern shadows this one
        served = {m for m in HTTP_METHODS if getattr(handler, m) is not getattr(tornado.web.RequestHandler, m)}
        assert set(paths[route.path]) == served == set(route.operations), route.path
        for method, op in route.operations.items():
            documented = paths[route.path][method]
            assert documented["security"] == [{role: []} for role in op.roles]
            assert set(documented["responses"]["200"]["content"]) == {op.media_type}
            query = {p["name"] for p in documented["parameters"] if p["in"] == "query"}
            assert query == (set() if op.body else set(op.arguments.model_fields)), (route.path, method)
            assert ("requestBody" in documented) == (op.body is not None)


def test_paths_outside_the_table_reach_the_json_404() -> None:
    app = _tornado_app()
    for path in ("/scan/x/y/z", "/scans/extra", f"/scan/{SCAN_ID}/skymap.pngx", f"/scan/{SCAN_ID}/result/"):
        assert _routed_handler(app, "get", path) is UnknownRouteHandler, path


def test_summary_and_skymap_are_typed() -> None:
    paths = openapi_document()["paths"]
    summary, skymap = paths["/scan/{scan_id}/result/summary"]["get"], paths["/scan/{scan_id}/skymap.png"]["get"]
    assert summary["responses"]["200"]["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/ResultSummary"}}}
    assert skymap["responses"]["200"]["content"]["image/png"]["schema"]["format"] == "binary"
    assert {p["name"] for p in skymap["parameters"]} == {"scan_id", "zoom", "include_deleted"}
    assert {p["name"] for p in summary["parameters"]} == {"scan_id", "include_deleted"}


def test_the_readme_routes_table_names_every_route_and_method() -> None:
    table = routes_table()
    for route in ROUTES:
        for method in route.operations:
            assert f"`{method.upper()} {route.path}`" in table or f"`{route.path}`" in table, (method, route.path)
