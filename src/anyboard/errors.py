"""The few exceptions anyboard defines (bad input raises plain ValueError/TypeError)."""

from __future__ import annotations


class WriterClosedError(RuntimeError):
    """An ``add_*``, ``flush`` or other logging call on a closed writer."""


class WriteError(OSError):
    """Writing events failed in the background (disk full, file deleted, ...).

    Raised on the caller's next logging call or flush; ``__cause__`` is the
    original exception. The writer stays usable: catch it and go on, and the
    failed batch is retried on the next write.
    """
