"""The README's settings table, generated from the settings' declarations (``skydriver/config.py``).

``python -m skydriver.docs`` (``make docs``) rewrites the table between its two marker comments; a test fails when the
committed README differs from what this generates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from .config import declarations

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN = "<!-- settings table: generated from skydriver/config.py by `make docs` -->"
END = "<!-- end of the settings table -->"


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


def with_settings_table(readme: str) -> str:
    """The README text with its settings table replaced by the generated one."""
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{settings_table()}\n{END}{tail}"


def main() -> None:
    README.write_text(with_settings_table(README.read_text()))
    print(f"wrote the settings table of {README}")


if __name__ == "__main__":
    main()
