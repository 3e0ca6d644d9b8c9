"""nbformat v4.5 cells and outputs as they travel on the wire (inside a ``restore`` op).

The shapes follow nbformat's own schema: the keys each cell type and output
type must and may have, nothing else. Metadata stays an open object here;
the Python applier also checks a restored cell against nbformat's schema.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from typing_extensions import NotRequired, TypedDict

from .fields import CellId, Count, MultilineString, Tagged

_CLOSED = {"extra": "forbid"}  # nbformat allows no other keys
MimeBundle = dict[str, Any]  # mime type -> data (a string, lines, or JSON for */json types)


class StreamOutput(TypedDict):
    __pydantic_config__ = _CLOSED
    output_type: Literal["stream"]
    name: str
    text: MultilineString


class DisplayDataOutput(TypedDict):
    __pydantic_config__ = _CLOSED
    output_type: Literal["display_data"]
    data: MimeBundle
    metadata: dict[str, Any]


class ExecuteResultOutput(TypedDict):
    __pydantic_config__ = _CLOSED
    output_type: Literal["execute_result"]
    execution_count: Count | None
    data: MimeBundle
    metadata: dict[str, Any]


class ErrorOutput(TypedDict):
    __pydantic_config__ = _CLOSED
    output_type: Literal["error"]
    ename: str
    evalue: str
    traceback: list[str]


Output = Annotated[Union[StreamOutput, DisplayDataOutput, ExecuteResultOutput, ErrorOutput], Tagged("output_type")]


class CodeCell(TypedDict):
    __pydantic_config__ = _CLOSED
    id: CellId
    cell_type: Literal["code"]
    source: MultilineString
    metadata: dict[str, Any]
    outputs: list[Output]
    execution_count: Count | None


class MarkdownCell(TypedDict):
    __pydantic_config__ = _CLOSED
    id: CellId
    cell_type: Literal["markdown"]
    source: MultilineString
    metadata: dict[str, Any]
    attachments: NotRequired[dict[str, MimeBundle]]


class RawCell(TypedDict):
    __pydantic_config__ = _CLOSED
    id: CellId
    cell_type: Literal["raw"]
    source: MultilineString
    metadata: dict[str, Any]
    attachments: NotRequired[dict[str, MimeBundle]]


NotebookCell = Annotated[Union[CodeCell, MarkdownCell, RawCell], Tagged("cell_type")]
