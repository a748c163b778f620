"""The base every method group declares, so type checkers see the emit API.

At run time it is plain ``object`` (the groups are mixins of
:class:`anyboard.SummaryWriter`, which brings ``_WriterBase``); for a type
checker it is ``_WriterBase`` itself, so ``self._emit`` and friends are typed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from anyboard.writer import _WriterBase as MethodsBase
else:
    MethodsBase = object

__all__ = ["MethodsBase"]
