"""Rank-aware writers for data-parallel jobs (torchrun, SLURM, MPI).

Every process of a job may construct the same writer::

    from anyboard.distributed import RankedSummaryWriter

    writer = RankedSummaryWriter("runs/exp1")              # rank 0 writes, others discard
    writer = RankedSummaryWriter("runs/exp1", per_rank=True)  # runs/exp1/rank_<k> for each rank

The rank comes from ``torch.distributed`` when a process group is initialized
(torch is consulted only if the program already imported it), else from the
environment: ``RANK``, ``SLURM_PROCID``, ``OMPI_COMM_WORLD_RANK``,
``PMI_RANK``, then ``LOCAL_RANK``; the world size from ``WORLD_SIZE``,
``SLURM_NTASKS``, ``OMPI_COMM_WORLD_SIZE`` or ``PMI_SIZE``. Without any of
them the process is rank 0 of 1 (with a ``RuntimeWarning`` when ``MASTER_ADDR``
says it is one rank of a job whose group is not initialized yet); a world size
above 1 with no rank known is an error, as every process would take rank 0.

A writer of a rank that does not write checks every call like any other
writer (a bad tag fails on every rank, not only on rank 0) and then discards
it: it creates no file and no directory.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

from anyboard.io import remote
from anyboard.writer import SummaryWriter, unpickled_options

__all__ = ["RankedSummaryWriter", "get_rank", "get_world_size"]

_RANK_VARS = ("RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "LOCAL_RANK")
_SIZE_VARS = ("WORLD_SIZE", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE")


def _torch_group() -> Any:
    """``torch.distributed`` if the program imported it and initialized a group, else ``None``."""
    dist = sys.modules.get("torch.distributed")
    if dist is None:
        return None
    try:
        if dist.is_available() and dist.is_initialized():
            return dist
    except Exception:  # noqa: BLE001 - a broken or partial torch install: fall back to env
        return None
    return None


def _env_int(names: tuple[str, ...], minimum: int) -> tuple[int, str] | None:
    """The first of ``names`` set in the environment, as ``(value, "NAME=value")``; ``None`` if none is."""
    for name in names:
        raw = os.environ.get(name)
        if raw is None or raw.strip() == "":
            continue
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"environment variable {name}={raw!r} must be an integer >= {minimum}") from None
        if value < minimum:
            raise ValueError(f"environment variable {name}={raw!r} must be an integer >= {minimum}")
        return value, f"environment variable {name}={raw.strip()}"
    return None


def _found_rank() -> tuple[int, str] | None:
    """This process's rank and where it was found (the initialized torch group, an environment
    variable); ``None`` when neither knows it."""
    dist = _torch_group()
    if dist is not None:
        return int(dist.get_rank()), "torch.distributed"
    return _env_int(_RANK_VARS, 0)


def _found_world_size() -> tuple[int, str] | None:
    dist = _torch_group()
    if dist is not None:
        return int(dist.get_world_size()), "torch.distributed"
    return _env_int(_SIZE_VARS, 1)


def get_rank() -> int:
    """Return this process's global rank (0 when not distributed).

    Raises:
        ValueError: a rank variable of the environment is not a non-negative integer.
    """
    found = _found_rank()
    return 0 if found is None else found[0]


def get_world_size() -> int:
    """Return the number of processes in the job (1 when not distributed).

    Raises:
        ValueError: a size variable of the environment is not a positive integer.
    """
    found = _found_world_size()
    return 1 if found is None else found[0]


def _job_rank_and_size(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """The rank and world size a writer uses: the arguments given, else what the job says.

    Raises ``ValueError`` (naming where each number came from) for a rank not below the world
    size, or a job of several processes whose rank is not known; warns (``RuntimeWarning``) when
    the process looks like one rank of a job that has not set its rank up yet.
    """
    rank_from = size_from = "argument"
    if rank is None:
        found = _found_rank()
        rank, rank_from = (0, "") if found is None else found
    else:
        rank = _check_index("rank", rank, 0)
    if world_size is None:
        found = _found_world_size()
        world_size, size_from = (1, "") if found is None else found
    else:
        world_size = _check_index("world_size", world_size, 1)
    if not rank_from and world_size > 1:
        raise ValueError(
            f"RankedSummaryWriter: world_size {world_size} ({size_from}) but no rank: torch.distributed "
            f"is not initialized and none of {', '.join(_RANK_VARS)} is set; pass rank=, or create the "
            "writer after init_process_group"
        )
    if not rank_from and not size_from and os.environ.get("MASTER_ADDR"):
        warnings.warn(
            "RankedSummaryWriter: MASTER_ADDR is set but torch.distributed is not initialized and no rank "
            f"variable ({', '.join(_RANK_VARS)}) is set, so this process counts as rank 0 of 1 (and writes); "
            "create the writer after init_process_group, or pass rank= and world_size=",
            RuntimeWarning,
            stacklevel=3,
        )
    if rank >= world_size:
        raise ValueError(
            f"rank {rank} ({rank_from or 'default'}) is not below world_size {world_size} ({size_from or 'default'})"
        )
    return rank, world_size


def _check_index(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


class RankedSummaryWriter(SummaryWriter):
    """A :class:`~anyboard.SummaryWriter` that knows its rank in a distributed job.

    Args:
        logdir: the run directory shared by all ranks (a local path or URL).
            Required when ``per_rank=True`` or the job has more than one
            process: the default ``runs/<time>_<host>`` would differ between ranks.
        *args: the other positional arguments of :class:`~anyboard.SummaryWriter`.
        per_rank: ``False`` (default): only ``writer_rank`` writes, into
            ``logdir``; every other rank gets a writer that checks and
            discards each call. ``True``: every rank writes its own sub-run
            ``<logdir>/rank_<k>``.
        rank: this process's rank; default :func:`get_rank`.
        world_size: the job's size; default :func:`get_world_size`.
        writer_rank: the rank that writes when ``per_rank=False`` (default 0).
        **kwargs: the other keyword arguments of :class:`~anyboard.SummaryWriter`.

    Attributes:
        rank: this process's rank.
        world_size: the number of processes.
        is_writing: whether this process writes anything.

    Raises:
        ValueError: bad rank, world size or writer rank, or no ``logdir`` where one is needed.
    """

    def __init__(
        self,
        logdir: str | os.PathLike[str] | None = None,
        *args: Any,
        per_rank: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
        writer_rank: int = 0,
        **kwargs: Any,
    ) -> None:
        rank, world_size = _job_rank_and_size(rank, world_size)
        writer_rank = _check_index("writer_rank", writer_rank, 0)
        if writer_rank >= world_size:
            raise ValueError(f"writer_rank {writer_rank} is not below world_size {world_size}")
        if logdir is None:
            logdir = kwargs.pop("log_dir", None)
        if logdir is None and (per_rank or world_size > 1):
            raise ValueError(
                "RankedSummaryWriter needs an explicit logdir in a distributed job: "
                "the default name holds the start time, which differs between ranks"
            )
        if per_rank:
            logdir = remote.join(os.fspath(logdir), f"rank_{rank}")
            writes = True
        else:
            writes = rank == writer_rank
        if not writes:
            kwargs["write_to_disk"] = False
        elif not kwargs.get("write_to_disk", True):
            writes = False
        self.rank = rank
        self.world_size = world_size
        self.is_writing = writes
        super().__init__(logdir, *args, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickling (a DataLoader or ``spawn`` worker): the same rank, world size and choice of
        writing, and the same (per-rank) directory; the worker's environment is not read again."""
        _rebuild, (_cls, *state) = super().__reduce__()
        return (_ranked_in_another_process, (type(self), self.rank, self.world_size, self.is_writing, *state))

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        mode = "writing" if self.is_writing else "discarding"
        return f"<RankedSummaryWriter rank={self.rank}/{self.world_size} {mode} logdir={self.logdir!r} {state}>"


def _ranked_in_another_process(
    cls: type[RankedSummaryWriter], rank: int, world_size: int, writing: bool, logdir: str, *state: Any
) -> RankedSummaryWriter:
    """Unpickle a :class:`RankedSummaryWriter` (see its ``__reduce__``; ``state`` as ``SummaryWriter``'s)."""
    writer = cls.__new__(cls)
    writer.rank, writer.world_size, writer.is_writing = rank, world_size, writing
    kwargs = unpickled_options(*state)
    kwargs["write_to_disk"] = kwargs["write_to_disk"] and writing
    SummaryWriter.__init__(writer, logdir, **kwargs)
    return writer
