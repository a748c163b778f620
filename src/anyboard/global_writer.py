"""``GlobalSummaryWriter``: one writer shared by many processes, with its own step per tag.

tensorboardX's ``GlobalSummaryWriter`` API (``add_scalar(tag, value)`` with no
``global_step``, ``GlobalSummaryWriter.getSummaryWriter()``), built to be safe
under the ``fork`` and ``spawn`` start methods.

Design:

- **One event file per run directory, appended to by every process.** The
  process that creates the writer (the *creator*) opens an ordinary
  :class:`~anyboard.SummaryWriter` on the log directory; any other process
  that uses the object (a ``fork`` child inherits it, a ``spawn`` child
  receives it pickled, e.g. as a ``Process``/``Pool`` argument) opens its own
  ``SummaryWriter`` on the same directory at its first call. All of them
  append (``O_APPEND``) to one file, named by the creator
  (``events.out.tfevents.<time>.<host>.<pid>.<n>.global``; sub-runs of
  ``add_scalars`` get a file of that name in their own directory), each
  write whole records. Nothing a process queued is written by another one, so
  nothing is written twice.
- **Steps in increasing order in the file.** Each call takes its step and
  writes its event while no other process can take a step, so every tag's
  steps increase in file order. TensorBoard's default (Rust) loader keeps a
  tag's points only while their steps increase in its read order, file by
  file: with one file per process (tensorboardX's design, and this writer's
  before) it dropped most points of a run several processes wrote. The price
  is one write per call (as for a child with ``sync_children=True``), made
  while the other processes wait.
- **Steps shared through a small SQLite file.** ``add_*`` takes no
  ``global_step``: each call takes the next step of its tag (0, 1, 2, ...)
  from a counter table in a private temporary directory that the creator
  makes (``anyboard-global-*`` under :func:`tempfile.gettempdir`). Every
  call is one ``BEGIN IMMEDIATE`` transaction, which also covers writing its
  event (below), so steps are unique per tag across all processes (and
  threads), with no server process. Each process opens its own connection
  (never one inherited through ``fork``). Counters are kept per kind of data
  (scalar, histogram, image, text, audio, video), as tensorboardX does. A call
  refused for bad input frees its step again; one interrupted (Ctrl-C) or
  failing after its event was queued keeps it: steps are unique, and gap-free
  unless a call was interrupted. The creator removes the directory when it
  closes the writer or exits.
- **Nothing lost when a child leaves.** In a process other than the creator
  every call returns only once its event is in the file (``sync_children=True``,
  the default; the creator's calls too, for the order above), so neither
  ``Pool.terminate()`` (what ``with Pool() as p:`` does on exit) nor
  ``os._exit`` can lose it. The child's writer is also
  closed by ``multiprocessing``'s exit hook (``util.Finalize``), which runs
  when a ``Process``/``Pool`` child returns normally under ``fork`` and
  ``spawn``. With ``sync_children=False`` children buffer as any writer does
  (one write per ``flush_secs``) and only that exit hook or an explicit
  :meth:`flush` saves their last events; the steps in the file are then no
  longer in order, and the Rust loader shows only part of them (the Python
  loader, ``--load_fast=false``, and :mod:`anyboard.read` show all).
- :meth:`getSummaryWriter` returns one writer per program. The first call
  creates it (default log directory ``runs/<date>_<host>``) and records its
  log directory and counter file in the environment variable
  ``ANYBOARD_GLOBAL_SUMMARY_WRITER``, so that a ``spawn`` child (which starts
  with fresh modules, but inherits the environment) calling
  ``getSummaryWriter()`` gets the same run and the same step counters instead
  of a new run.

Limitations: the processes must share one machine (the counters are a local
file). On a URL log directory (fsspec) each process writes its own objects
(an object is written whole by one process), with the Rust loader's loss
above. ``purge_step`` applies to the creator's writer only; after the creator
has closed the writer, a call in another process raises
:class:`~anyboard.errors.WriterClosedError`.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from anyboard.errors import WriterClosedError

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["GlobalSummaryWriter"]

ENV_VAR = "ANYBOARD_GLOBAL_SUMMARY_WRITER"
_DB_NAME = "steps.sqlite"

_global: GlobalSummaryWriter | None = None


class _Taken:
    """A step held by :meth:`StepCounter.hold`, and whether its event was queued."""

    __slots__ = ("queued", "step")

    def __init__(self) -> None:
        self.step = -1
        self.queued = False


class StepCounter:
    """Per-key step counters shared by every process that knows :attr:`path` (one SQLite table).

    :meth:`hold` gives 0 for a key's first call, then 1, 2, ... across all
    processes and threads.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._pid = -1
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    @classmethod
    def create(cls) -> StepCounter:
        """A new counter file in a fresh private temporary directory."""
        directory = tempfile.mkdtemp(prefix="anyboard-global-")
        path = os.path.join(directory, _DB_NAME)
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE steps (key TEXT PRIMARY KEY, next INTEGER NOT NULL)")
        finally:
            conn.close()
        return cls(path)

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])  # type: ignore[misc]

    def _connection(self) -> sqlite3.Connection:
        pid = os.getpid()
        if self._pid != pid:  # first use in this process (or a fork child): never reuse the parent's
            self._lock = threading.Lock()
            self._conn = None
            self._pid = pid
        if self._conn is None:
            if not os.path.exists(self.path):
                raise WriterClosedError(
                    f"GlobalSummaryWriter: its step counters ({self.path}) are gone: the process that created "
                    "the writer has closed it or exited"
                )
            uri = "file:" + self.path.replace("?", "%3f").replace("#", "%23") + "?mode=rw"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=120, check_same_thread=False)
            conn.execute("PRAGMA synchronous=OFF")
            self._conn = conn
        return self._conn

    @contextlib.contextmanager
    def hold(self, key: str) -> Iterator[_Taken]:
        """The next step of ``key`` (``.step``), with every other process's next step of any key
        waiting until the block ends (one ``BEGIN IMMEDIATE`` transaction).

        The block sets ``.queued`` once its event is queued. A ``ValueError`` or ``TypeError``
        raised before that (refused input) frees the step again; anything else keeps it taken.
        :class:`GlobalSummaryWriter` writes the event inside the block, so a shared file holds
        each tag's steps in increasing order.
        """
        if self._pid != os.getpid():
            self._connection()  # resets the lock in a new process
        with self._lock:
            conn = self._connection()
            if conn.in_transaction:  # left open by an interrupt that landed after BEGIN returned
                conn.execute("ROLLBACK")
            taken = _Taken()
            free_again = False
            try:
                conn.execute("BEGIN IMMEDIATE")  # inside the try: a Ctrl-C after it began still ends it below
                row = conn.execute("SELECT next FROM steps WHERE key = ?", (key,)).fetchone()
                taken.step = int(row[0]) if row else 0
                conn.execute("INSERT OR REPLACE INTO steps (key, next) VALUES (?, ?)", (key, taken.step + 1))
                yield taken
            except (ValueError, TypeError, sqlite3.Error) as exc:
                # Refused input (or the counter failing) before anything was queued: the step is
                # free again. Anything else (an interrupt, a write error), or after the event was
                # queued: the step stays taken; a skipped step is harmless, one written twice is not.
                free_again = not taken.queued
                if isinstance(exc, sqlite3.Error):
                    self._raise_closed(exc)
                raise
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK" if free_again else "COMMIT")

    def _raise_closed(self, exc: sqlite3.Error) -> None:
        if not os.path.exists(self.path):
            raise WriterClosedError(
                "GlobalSummaryWriter: the process that created the writer has closed it or exited"
            ) from exc

    def remove(self) -> None:
        """Delete the counter file and its directory (the creator, at close or exit)."""
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
            self._conn = None
        shutil.rmtree(os.path.dirname(self.path), ignore_errors=True)


def _shared_name(logdir: Any, suffix: str) -> str | None:
    """The event-file name every process appends to in each run directory (``None``: a URL, one file per process)."""
    from anyboard.io import remote
    from anyboard.io.event_file import ordered_name

    local = None if logdir is None else remote._local(logdir)
    if logdir is not None and local is None:
        return None  # an object store: an object is written whole by one process
    try:
        existing = os.listdir(local) if local is not None else []
    except OSError:  # not created yet (or unreadable: the writer's own open reports it)
        existing = []
    return ordered_name(existing, f".global{suffix}" if isinstance(suffix, str) else ".global")


@contextlib.contextmanager
def _appending_to(shared: str | None) -> Iterator[None]:
    """Writers made inside append to ``shared`` in each of their run directories."""
    from anyboard.writer import SHARED_FILE

    token = SHARED_FILE.set(shared)
    try:
        yield
    finally:
        SHARED_FILE.reset(token)


def _close_in(pid: int, writer: Any) -> None:
    """Close ``writer`` if this is the process that opened it (an exit hook copied by ``fork`` does nothing)."""
    if os.getpid() == pid:
        writer.close()


def _remove_in(pid: int, counter: StepCounter) -> None:
    if os.getpid() == pid:
        counter.remove()


class GlobalSummaryWriter:
    """One writer for many processes and modules; it keeps the step of every tag itself.

    Usage (the log directory should be given when children are spawned)::

        writer = GlobalSummaryWriter("runs/exp1")

        def work(x):
            writer.add_scalar("loss", x)        # no global_step: 0, 1, 2, ... per tag

        with multiprocessing.Pool(4) as pool:  # fork; under spawn pass `writer` as an argument
            pool.map(work, range(100))
        writer.close()

    Args:
        logdir, comment, purge_step, max_queue, flush_secs, filename_suffix,
        write_to_disk, log_dir: as for :class:`~anyboard.SummaryWriter`, which
            every process opens with them (``comment`` and ``purge_step``
            apply to the creator: the log directory is fixed when the writer
            is created).
        coalesce_process: accepted for tensorboardX compatibility; ignored.
        sync_children: in processes other than the creator, make every call
            return once its event is written (default ``True``; see the
            module docs).
        **kwargs: other :class:`~anyboard.SummaryWriter` keywords
            (``storage_options``, ``summary_format``, ...).

    See :mod:`anyboard.global_writer` for how it works across processes.
    """

    def __init__(
        self,
        logdir: str | os.PathLike[str] | None = None,
        comment: str = "",
        purge_step: int | None = None,
        max_queue: int = 10,
        flush_secs: float = 120,
        filename_suffix: str = "",
        write_to_disk: bool = True,
        log_dir: str | os.PathLike[str] | None = None,
        coalesce_process: bool = True,
        *,
        sync_children: bool = True,
        **kwargs: Any,
    ) -> None:
        from anyboard.writer import SummaryWriter

        del coalesce_process
        self._options: dict[str, Any] = dict(
            max_queue=max_queue,
            flush_secs=flush_secs,
            filename_suffix=filename_suffix,
            write_to_disk=write_to_disk,
            **kwargs,
        )
        self._sync_children = bool(sync_children)
        self._shared = _shared_name(logdir if logdir is not None else log_dir, filename_suffix)
        with _appending_to(self._shared):
            writer = SummaryWriter(logdir, comment=comment, purge_step=purge_step, log_dir=log_dir, **self._options)
        self._logdir = writer.get_logdir()
        self._creator = os.getpid()
        self._counter = StepCounter.create()
        self._closed = False
        self._local_pid = self._creator
        self._local: Any = writer
        self._local_lock = threading.Lock()
        self._cleanup: Any = functools.partial(_remove_in, self._creator, self._counter)
        atexit.register(self._cleanup)

    # -- pickling (spawn children) --------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {
            "logdir": self._logdir,
            "counter": self._counter.path,
            "creator": self._creator,
            "options": self._options,
            "sync": self._sync_children,
            "shared": self._shared,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._logdir = state["logdir"]
        self._counter = StepCounter(state["counter"])
        self._creator = state["creator"]
        self._options = dict(state["options"])
        self._sync_children = state["sync"]
        self._shared = state.get("shared")
        self._closed = False
        self._local_pid = -1
        self._local = None
        self._local_lock = threading.Lock()
        self._cleanup = None

    # -- this process's writer ------------------------------------------------------------------
    def _writer(self) -> Any:
        """This process's :class:`~anyboard.SummaryWriter` (opened at its first call in a new process)."""
        pid = os.getpid()
        if self._local_pid != pid:
            self._local_lock = threading.Lock()  # a lock copied by fork may be held by a thread that is gone
            self._local = None
            self._local_pid = pid
            self._closed = False
        if self._closed:
            raise WriterClosedError(f"GlobalSummaryWriter on {self._logdir!r} is closed in this process")
        if self._local is None:
            with self._local_lock:
                if self._local is None:
                    import multiprocessing.util

                    from anyboard.writer import SummaryWriter

                    with _appending_to(self._shared):
                        writer = SummaryWriter(self._logdir, **self._options)
                    # Runs when a multiprocessing child returns (fork and spawn), before os._exit.
                    multiprocessing.util.Finalize(None, _close_in, args=(pid, writer), exitpriority=10)
                    self._local = writer
        return self._local

    def _log(self, kind: str, tag: Any, method: str, *args: Any, **kwargs: Any) -> None:
        writer = self._writer()
        if not isinstance(tag, str):
            raise TypeError(f"{method}: tag must be a str, got {type(tag).__name__}")
        # One shared file per run directory: each event is written while its step is held, so
        # the file holds every tag's steps in increasing order (TensorBoard's Rust loader keeps
        # a tag's points only while their steps increase in read order).
        ordered = self._shared is not None and self._sync_children
        with self._counter.hold(f"{kind}\0{tag}") as taken:
            getattr(writer, method)(tag, *args, global_step=taken.step, **kwargs)  # bad input: the step is freed
            taken.queued = True
            if ordered or (self._sync_children and os.getpid() != self._creator):
                writer.flush()  # a failure here (or a Ctrl-C) leaves the step taken: the event is queued

    # -- logging ----------------------------------------------------------------------------------
    def add_scalar(self, tag: str, scalar_value: Any, walltime: float | None = None) -> None:
        """``add_scalar`` at the tag's next step. ``scalar_value``: a number or 1-element array/tensor."""
        self._log("scalar", tag, "add_scalar", scalar_value, walltime=walltime)

    def add_scalars(self, main_tag: str, tag_scalar_dict: dict[str, Any], walltime: float | None = None) -> None:
        """``add_scalars`` (one sub-run per key), all keys at ``main_tag``'s next step."""
        self._log("scalars", main_tag, "add_scalars", tag_scalar_dict, walltime=walltime)

    def add_histogram(
        self, tag: str, values: Any, bins: Any = "tensorflow", walltime: float | None = None, max_bins: Any = None
    ) -> None:
        """``add_histogram`` of ``values`` (any shape) at the tag's next step."""
        self._log("histogram", tag, "add_histogram", values, bins=bins, walltime=walltime, max_bins=max_bins)

    def add_image(self, tag: str, img_tensor: Any, walltime: float | None = None, dataformats: str = "CHW") -> None:
        """``add_image`` (``[C, H, W]`` by default) at the tag's next image step."""
        self._log("image", tag, "add_image", img_tensor, walltime=walltime, dataformats=dataformats)

    def add_images(self, tag: str, img_tensor: Any, walltime: float | None = None, dataformats: str = "NCHW") -> None:
        """``add_images`` (``[N, C, H, W]`` by default) at the tag's next image step."""
        self._log("image", tag, "add_images", img_tensor, walltime=walltime, dataformats=dataformats)

    def add_figure(self, tag: str, figure: Any, close: bool = True, walltime: float | None = None) -> None:
        """``add_figure`` (a matplotlib figure or a list of them) at the tag's next image step."""
        self._log("image", tag, "add_figure", figure, close=close, walltime=walltime)

    def add_text(self, tag: str, text_string: Any, walltime: float | None = None) -> None:
        """``add_text`` at the tag's next text step."""
        self._log("text", tag, "add_text", text_string, walltime=walltime)

    def add_audio(self, tag: str, snd_tensor: Any, sample_rate: int = 44100, walltime: float | None = None) -> None:
        """``add_audio`` (samples in ``[-1, 1]``, shape ``[L]`` or ``[1, L]``) at the tag's next audio step."""
        self._log("audio", tag, "add_audio", snd_tensor, sample_rate=sample_rate, walltime=walltime)

    def add_video(self, tag: str, vid_tensor: Any, fps: float = 4, walltime: float | None = None) -> None:
        """``add_video`` (``[N, T, C, H, W]``) at the tag's next video step."""
        self._log("video", tag, "add_video", vid_tensor, fps=fps, walltime=walltime)

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def smw(self) -> Any:
        """This process's :class:`~anyboard.SummaryWriter` (tensorboardX's attribute name)."""
        return self._writer()

    @property
    def file_writer(self) -> Any:
        """This process's writer's ``file_writer``."""
        return self._writer().file_writer

    def get_logdir(self) -> str:
        """The run directory every process writes into."""
        return str(self._logdir)

    def flush(self) -> None:
        """Write everything this process logged through the writer."""
        if self._local is not None and self._local_pid == os.getpid():
            self._local.flush()

    def close(self) -> None:
        """Flush and close this process's writer; in the creator, also remove the step counters.

        Idempotent. Call it in the creator after the other processes are done
        (they raise :class:`~anyboard.errors.WriterClosedError` afterwards).
        """
        global _global
        pid = os.getpid()
        if self._local is not None and self._local_pid == pid:
            self._local.close()
        self._local_pid, self._local, self._closed = pid, None, True
        if pid == self._creator:
            self._counter.remove()
            if self._cleanup is not None:
                atexit.unregister(self._cleanup)
                self._cleanup = None
            if _global is self:
                _global = None
                os.environ.pop(ENV_VAR, None)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def getSummaryWriter() -> GlobalSummaryWriter:
        """The program's global writer, created at the first call (tensorboardX's ``getSummaryWriter``).

        Every module (and every ``fork`` or ``spawn`` child of the process
        that created it) gets the same run directory and step counters; see
        :mod:`anyboard.global_writer`.
        """
        global _global
        if _global is None or _global._closed:
            state = os.environ.get(ENV_VAR)
            if state:
                info = json.loads(state)
                if os.path.exists(info["counter"]):
                    _global = GlobalSummaryWriter.__new__(GlobalSummaryWriter)
                    _global.__setstate__(info)
                    return _global
            _global = GlobalSummaryWriter()
            try:
                os.environ[ENV_VAR] = json.dumps(_global.__getstate__())
            except (TypeError, ValueError):  # options JSON cannot hold: spawn children make their own run
                pass
        return _global
