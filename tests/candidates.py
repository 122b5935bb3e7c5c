"""Candidate tables derived from golden: correct ones and ones with injected faults."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def bump(table: pa.Table, column: str, row: int, delta: int) -> pa.Table:
    """``table`` with ``delta`` added to ``column`` in one row."""
    values = table.column(column).to_pylist()
    values[row] += delta
    return table.set_column(table.schema.get_field_index(column), column,
                            pa.array(values, table.schema.field(column).type))


def rename(table: pa.Table, mapping: dict[str, str]) -> pa.Table:
    return table.rename_columns([mapping.get(c, c) for c in table.column_names])


def find_row(table: pa.Table, **where) -> int:
    """Index of the first row matching every column=value, with a positive attempts count."""
    mask = pc.greater(table.column("attempts"), 0)
    for col, value in where.items():
        mask = pc.and_(mask, pc.equal(table.column(col), value))
    return pc.index(mask, True).as_py()
