"""Turn user-given names (tags, keys, comments, suffixes) into safe path components.

A component never contains a path separator, NUL, a control character, or
``%``, and is never ``"."`` or ``".."``: such characters are written
as ``%xx`` (UTF-8 bytes in lower-case hex, as torch escapes ``/`` in embedding folders; lone surrogates from undecodable file names too), so
nothing a user passes can name a path outside the log directory, and the
encoding is reversible with ``urllib.parse.unquote(c, errors="surrogatepass")``
(so distinct names give distinct components). On Windows also ``:`` (``"C:x"``
would be a path on drive C, outside the log directory, and ``"x:y"`` an NTFS
stream), the other characters Windows refuses (``<>"|?*``), a trailing dot or
space (Windows drops them: two names would share one folder) and the first
letter of a device name (``CON``, ``NUL``, ``COM1``, ... with any extension:
writes to them go to the device, not to a file) are escaped the same way. Under a URL log
directory (``url=True``) also ``?`` and ``#`` (s3fs cuts a key at ``?versionId=``, other
backends at a query or fragment) and the ``:`` of a name holding ``::`` (fsspec reads ``a::b``
as a chain of file systems), so two names would share one object; a lone ``:`` stays, as the
peers write it. A component longer than
:data:`MAX_COMPONENT_BYTES` (the usual file-system limit on a name) is a
``ValueError``, raised before anything is created.

Symlinks (local paths only; fsspec URLs have none): :func:`check_inside`
refuses a path below the log directory with a component that is a symlink
resolving **outside** the log directory (:class:`UnsafePathError`, naming the
link and its target). Symlinks that resolve inside the log directory are
allowed, and the log directory itself may be a symlink (the user chose it).
Files are then created with ``O_EXCL | O_NOFOLLOW`` (event files) or replaced
by ``rename`` (projector files), neither of which follows a symlink in the
final component. The check runs before and again after directories are
created; a process that can write into the log directory and swaps a
directory for a symlink in between is not defended against.
"""

from __future__ import annotations

import os

_UNSAFE = frozenset("/\\%")
_UNSAFE_WINDOWS = _UNSAFE | frozenset(':<>"|?*')
_UNSAFE_URL = frozenset("?#")
_WINDOWS = os.name == "nt"  # a module attribute: tests apply the Windows rules on any system
_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{kind}{digit}" for kind in ("COM", "LPT") for digit in "123456789\u00b9\u00b2\u00b3"]
)
MAX_COMPONENT_BYTES = 255


def _escape(ch: str) -> str:
    return "".join(f"%{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))  # lower case, as torch's _encode


def safe_component(name: str, *, allow_empty: bool = False, url: bool = False, what: str = "name") -> str:
    """Return ``name`` as one safe file-name component (see module doc).

    ``""`` is returned as is when ``allow_empty`` (a suffix or comment that
    is appended to a fixed name); otherwise it is a ``ValueError``. ``url``:
    the component goes below a URL log directory. ``what`` names the argument
    in error messages (``"add_scalars key"``, ``"run_name"``, ...).

    Raises:
        TypeError: ``name`` is not a ``str``.
        ValueError: ``name`` is empty (and not ``allow_empty``), or its escaped
            form is longer than :data:`MAX_COMPONENT_BYTES` bytes; the message
            holds ``repr(name)``.
    """
    if not isinstance(name, str):
        raise TypeError(f"{what}: expected a str (it names a file or directory), got {type(name).__name__}")
    unsafe = _UNSAFE_WINDOWS if _WINDOWS else _UNSAFE
    if url:
        unsafe = unsafe | _UNSAFE_URL | (frozenset(":") if "::" in name else frozenset())
    out = []
    for ch in name:
        code = ord(ch)
        if ch in unsafe or code < 0x20 or code == 0x7F or 0xD800 <= code <= 0xDFFF:
            out.append(_escape(ch))
        else:
            out.append(ch)
    if _WINDOWS and out:
        if out[-1] in (".", " "):
            out[-1] = _escape(out[-1])
        if name.split(".", 1)[0].rstrip(" ").upper() in _DEVICES:
            out[0] = _escape(out[0])
    result = "".join(out)
    if result == "" and not allow_empty:
        raise ValueError(f"{what}: expected a non-empty name for a file or directory, got ''")
    if result in (".", ".."):
        result = result.replace(".", "%2e")
    size = len(result.encode("utf-8"))
    if size > MAX_COMPONENT_BYTES:
        raise ValueError(
            f"{what} {name!r} is too long for a file or directory name: {size} bytes once escaped "
            f"(at most {MAX_COMPONENT_BYTES})"
        )
    return result


def safe_relative(name: str, *, url: bool = False, what: str = "name", backslash: bool = True) -> str:
    """A user's relative path (levels split at ``/``, and at ``\\`` with ``backslash``) as safe
    components joined by ``/``.

    Empty and ``.`` levels are dropped, as ``os.path.join`` and the file system drop them (so
    ``"."`` and ``"./val"`` name the log directory and ``val`` as they do for the peers); ``..``
    is escaped like any unsafe name, and so is a ``\\`` that does not split. ``""`` when no level
    is left. ``url``/``what``: see :func:`safe_component`.
    """
    if not isinstance(name, str):
        raise TypeError(f"{what}: expected a str (it names a directory), got {type(name).__name__}")
    levels = (name.replace("\\", "/") if backslash else name).split("/")
    return "/".join(safe_component(p, url=url, what=what) for p in levels if p not in ("", "."))


class UnsafePathError(PermissionError):
    """A write would go through a symlink leading outside the log directory (the message names both)."""


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def check_inside(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """Refuse ``path`` if a component of it below ``root`` is a symlink that resolves outside ``root``.

    ``root`` is the log directory (it may itself be a symlink); ``path`` a
    file or directory under it, existing or not (components that do not exist
    yet are fine). Local paths only.

    Raises:
        UnsafePathError: a symlink leaves ``root``, or ``path`` is not under ``root``.
    """
    root_s, path_s = os.fspath(root), os.fspath(path)
    root_abs = os.path.abspath(root_s)
    # The components below root as written, not as os.path.abspath would clean them up: the
    # system resolves a ".." only after following the symlink before it, so "link/../logs"
    # may be a different folder from the "logs" next to "link".
    seps = os.sep + (os.altsep or "")
    prefix = root_s.rstrip(seps)
    if path_s == root_s or path_s.rstrip(seps) == prefix:
        return
    if prefix and any(path_s.startswith(prefix + sep) for sep in seps):
        rel = path_s[len(prefix) :]
    else:
        rel = os.path.relpath(os.path.abspath(path_s), root_abs)
    parts = [p for p in rel.replace(os.altsep or os.sep, os.sep).split(os.sep) if p not in ("", os.curdir)]
    if not parts:
        return
    if os.pardir in parts:
        raise UnsafePathError(f"refusing to write {path_s!r}: it is not inside the log directory {root_abs!r}")
    # Walk from where the log directory really is (it may itself be a symlink, or pass through one).
    root_real = os.path.realpath(root_s)
    current = root_real
    for part in parts:
        current = os.path.join(current, part)
        if not os.path.lexists(current):
            return  # the rest does not exist yet: nothing to follow
        # Every existing component, not only those islink() reports: a Windows
        # junction is no symlink to islink() on Python 3.11, but realpath
        # resolves it all the same.
        target = os.path.realpath(current)
        if not _within(target, root_real):
            kind = "a symlink" if os.path.islink(current) else "a link"
            raise UnsafePathError(
                f"refusing to write through {current!r}: it is {kind} to {target!r}, "
                f"outside the log directory {root_abs!r}"
            )
