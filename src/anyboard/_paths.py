"""Turn user-given names (tags, keys, comments, suffixes) into safe path components.

A component never contains a path separator, NUL, a control character, or
``%``, and is never ``"."`` or ``".."``: such characters are written
as ``%XX`` (UTF-8 bytes; lone surrogates from undecodable file names too), so
nothing a user passes can name a path outside the log directory, and the
encoding is reversible with ``urllib.parse.unquote(c, errors="surrogatepass")``
(so distinct names give distinct components). A component longer than
:data:`MAX_COMPONENT_BYTES` (the usual file-system limit on a name) is a
``ValueError``, raised before anything is created.
"""

from __future__ import annotations

_UNSAFE = frozenset("/\\%")
MAX_COMPONENT_BYTES = 255


def _escape(ch: str) -> str:
    return "".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))


def safe_component(name: str, *, allow_empty: bool = False) -> str:
    """Return ``name`` as one safe file-name component (see module doc).

    ``""`` is returned as is when ``allow_empty`` (a suffix or comment that
    is appended to a fixed name); otherwise it is a ``ValueError``.

    Raises:
        TypeError: ``name`` is not a ``str``.
        ValueError: ``name`` is empty (and not ``allow_empty``), or its escaped
            form is longer than :data:`MAX_COMPONENT_BYTES` bytes; the message
            holds ``repr(name)``.
    """
    if not isinstance(name, str):
        raise TypeError(f"expected a str for a path component, got {type(name).__name__}")
    out = []
    for ch in name:
        code = ord(ch)
        if ch in _UNSAFE or code < 0x20 or code == 0x7F or 0xD800 <= code <= 0xDFFF:
            out.append(_escape(ch))
        else:
            out.append(ch)
    result = "".join(out)
    if result == "" and not allow_empty:
        raise ValueError("expected a non-empty name for a path component, got ''")
    if result in (".", ".."):
        result = result.replace(".", "%2E")
    size = len(result.encode("utf-8"))
    if size > MAX_COMPONENT_BYTES:
        raise ValueError(
            f"name {name!r} is too long for a file or directory name: {size} bytes once escaped "
            f"(at most {MAX_COMPONENT_BYTES})"
        )
    return result
