"""Columns to the caller: a dict of NumPy arrays, or a pandas ``DataFrame``.

pandas is imported only here, only when a frame is asked for; without it the readers
raise an ``ImportError`` that says what to install and how to get NumPy columns instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

OUTPUTS = ("pandas", "numpy")


def check_output(output: str) -> None:
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {list(OUTPUTS)}, got {output!r}")


def require_pandas(function: str) -> Any:
    """Import pandas, or raise ``ImportError`` naming the extra and the NumPy alternative."""
    try:
        import pandas
    except ImportError as exc:
        raise ImportError(
            f"anyboard.{function}() returns a pandas DataFrame, and pandas is not installed: "
            "pip install 'anyboard[pandas]' (or pass output='numpy' for a dict of NumPy arrays)"
        ) from exc
    return pandas


def object_column(values: list[Any]) -> Any:
    """A 1-D object array holding ``values`` as they are (lists and arrays stay elements)."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return out


def to_output(columns: dict[str, Any], output: str, function: str) -> Any:
    """``columns`` (equal-length 1-D arrays) as ``output`` asks: the dict itself or a DataFrame."""
    if output == "numpy":
        return columns
    pd = require_pandas(function)
    return pd.DataFrame(columns, copy=False)
