"""Field annotations the wire data classes share: bounds and tags that pydantic reads.

The data classes are plain stdlib dataclasses and TypedDicts. The markers
below carry the JSON Schema constraints (pattern, length, minimum, which key
tells union members apart) in ``typing.Annotated`` metadata; pydantic picks
them up only when a schema or a validator is built, so importing a data class
never imports pydantic.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union


class Bounds:
    """Constraints on a ``str`` or ``int`` field, in pydantic-core's names (pattern, min_length, ge, …)."""

    def __init__(self, **bounds: Any):
        self.bounds = bounds

    def __get_pydantic_core_schema__(self, source, handler):
        schema = handler(source)
        schema.update(self.bounds)
        return schema


class Tagged:
    """A union whose members are told apart by one literal key (``op``, ``cell_type``, ``output_type``)."""

    def __init__(self, key: str):
        self.key = key

    def __get_pydantic_core_schema__(self, source, handler):
        from pydantic import Field

        return handler.generate_schema(Annotated[source, Field(discriminator=self.key)])


# nbformat 4.5's cell id: what every cell written to a notebook must carry.
CELL_ID_PATTERN = r"^[a-zA-Z0-9_-]+$"
CELL_ID_MAX = 64
CellId = Annotated[str, Bounds(pattern=CELL_ID_PATTERN, min_length=1, max_length=CELL_ID_MAX)]
# A reference to an existing cell: looked up, never written, so any non-empty string.
CellRef = Annotated[str, Bounds(min_length=1)]
CellType = Literal["code", "markdown", "raw"]
Count = Annotated[int, Bounds(ge=0)]
# nbformat stores long text either as one string or as a list of lines.
MultilineString = Union[str, list[str]]
