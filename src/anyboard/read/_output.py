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


def _infers_str(pd: Any) -> bool:
    """Whether this pandas stores strings in its ``str`` dtype by default (pandas >= 3, or opted in)."""
    try:
        if int(pd.__version__.split(".")[0]) >= 3:
            return True
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return bool(pd.get_option("future.infer_string"))
    except (ValueError, KeyError, AttributeError):  # an unusual version string, or no such option
        return False


class Labels:
    """A string column stored as ``codes`` (``int64``) into ``names``: ``names[codes[i]]`` is row ``i``."""

    def __init__(self, codes: Any, names: list[str]) -> None:
        self.codes = codes
        self.names = names

    def to_numpy(self) -> Any:
        table = np.empty(len(self.names) + 1, dtype=object)
        table[: len(self.names)] = self.names
        return table[:-1][self.codes] if len(self.names) else np.empty(len(self.codes), dtype=object)

    def to_pandas(self, pd: Any) -> Any:
        # pandas >= 3 stores strings in its "str" dtype (Arrow-backed with pyarrow): build it from a
        # dictionary array in one cast instead of converting one Python string per row.
        if _infers_str(pd):
            try:
                import pyarrow as pa
            except ImportError:
                pass
            else:
                dictionary = pa.DictionaryArray.from_arrays(
                    pa.array(self.codes, type=pa.int32()), pa.array(self.names, type=pa.large_string())
                )
                return dictionary.cast(pa.large_string()).to_pandas()
        return pd.Series(self.to_numpy(), dtype=object)


def to_output(columns: dict[str, Any], output: str, function: str) -> Any:
    """``columns`` (equal-length 1-D arrays or :class:`Labels`) as ``output`` asks: a dict of
    NumPy arrays, or a DataFrame."""
    if output == "numpy":
        return {k: v.to_numpy() if isinstance(v, Labels) else v for k, v in columns.items()}
    pd = require_pandas(function)
    data = {}
    for name in list(columns):
        v = columns.pop(name)
        data[name] = v.to_pandas(pd) if isinstance(v, Labels) else v
    return pd.DataFrame(data, copy=False)
