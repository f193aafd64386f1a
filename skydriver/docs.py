"""The README's generated tables: settings (from ``skydriver/config.py``) and routes (from the route table and each
handler method's ``operation``).

``python -m skydriver.docs`` (``make docs``) rewrites each table between its two marker comments; a test fails when the
committed README differs from what this generates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from .config import declarations
from .rest.routes import ROUTES

README = Path(__file__).resolve().parents[1] / "README.md"
SETTINGS_MARKERS = ("<!-- settings table: generated from skydriver/config.py by `make docs` -->", "<!-- end of the settings table -->")
ROUTES_MARKERS = ("<!-- routes table: generated from skydriver/rest/routes.py by `make docs` -->", "<!-- end of the routes table -->")


def _shown(value: Any) -> str:
    if value is True or value is False:
        return "`on`" if value else "`off`"
    if value in ("", None):
        return "(none)"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


def _row(field: FieldInfo) -> str:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    default = str(extra.get("shown_default") or _shown(field.get_default(call_default_factory=True)))
    return f"| `{field.alias}` | {default} | {field.description} |"


def settings_table() -> str:
    rows = [_row(field) for field in declarations()]
    return "\n".join(["| variable | default | meaning |", "| --- | --- | --- |", *rows])


def _argument(name: str, field: FieldInfo) -> str:
    if field.is_required():
        return f"`{name}`"
    default = field.get_default(call_default_factory=True)
    if default is None or default == []:
        return f"`{name}`"
    return f"`{name}={str(default).lower() if isinstance(default, bool) else default}`"


def routes_table() -> str:
    """One row per method of each handler; paths served by the same handler share the row."""
    rows, seen = [], set()
    for route in ROUTES:
        if route.handler in seen:
            continue
        seen.add(route.handler)
        aliases = [other.path for other in ROUTES if other.handler is route.handler and other is not route]
        also = f" (also `{'`, `'.join(aliases)}`)" if aliases else ""
        for method, op in route.operations.items():
            if op.body is not None:
                arguments = f"body: `{op.body.__name__}`"
            else:
                arguments = ", ".join(_argument(name, field) for name, field in op.arguments.model_fields.items())
            who = ", ".join(op.roles) if op.roles else "no token"
            answer = op.response.__name__ if op.response else op.media_type.split(";")[0]
            rows.append(f"| `{method.upper()} {route.path}`{also} | {arguments} | {who} | {op.summary} | {answer} |")
    return "\n".join(["| route | arguments | who | what | answers |", "| --- | --- | --- | --- | --- |", *rows])


def _replaced(readme: str, markers: tuple[str, str], table: str) -> str:
    begin, end = markers
    head, rest = readme.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{table}\n{end}{tail}"


def with_generated_tables(readme: str) -> str:
    """The README text with its settings and routes tables replaced by the generated ones."""
    return _replaced(_replaced(readme, SETTINGS_MARKERS, settings_table()), ROUTES_MARKERS, routes_table())


def main() -> None:
    README.write_text(with_generated_tables(README.read_text()))
    print(f"wrote the settings and routes tables of {README}")


if __name__ == "__main__":
    main()
