"""schemas/ is generated from the models: this fails when someone changes a model and forgets to regenerate."""

from __future__ import annotations

from skydriver.openapi import SCHEMAS_DIR, generated_files


def test_committed_schemas_match_the_models() -> None:
    stale = [name for name, content in generated_files().items()
             if not (SCHEMAS_DIR / name).exists() or (SCHEMAS_DIR / name).read_text() != content]  # fmt: skip
    assert not stale, f"schemas/ is stale ({', '.join(stale)}): run `python -m skydriver.openapi`"


def test_openapi_covers_every_route() -> None:
    from skydriver.openapi import openapi_document
    from skydriver.rest.routes import ROUTES

    paths = set(openapi_document()["paths"])
    for pattern, _ in ROUTES:
        path = pattern.replace("([^/]+)", "{scan_id}").replace("\\.", ".")
        assert path in paths, path
