"""Golden-file testing of what your code logs.

::

    from anyboard.testing import assert_logdir_matches, dump

    def test_training_logs(tb_logdir):              # fixture from anyboard's pytest plugin
        train(logdir=tb_logdir, steps=3)
        assert_logdir_matches(tb_logdir, "tests/golden/train.txt")

- :func:`dump` turns every event under a log directory (or one event file) into a canonical,
  deterministic text: runs sorted, events in TensorBoard's reading order, each value with its
  step, tag, plugin and decoded content. Encoded media are shown as shape plus a hash of the
  DECODED pixels or samples; wall times, host names, pids and file names are left out. The
  same calls made through anyboard, ``torch.utils.tensorboard`` or tensorboardX give the same
  dump wherever their semantics agree, and legacy (TF 1.x) and tensor (v2) encodings of the
  same summary are shown alike (``show_encoding=True`` tells them apart).
- :func:`assert_logdir_matches` compares that dump with a golden file and fails with a
  unified diff naming the run, tag and step that differ. Goldens are (re)written when
  ``update=True``, when ``ANYBOARD_UPDATE_GOLDENS=1`` is set, or under pytest's
  ``--anyboard-update-goldens``.
- :func:`dump_events` and :func:`assert_text_matches` do the same for protos you hold in
  memory (``Event`` or ``Summary`` messages of anyboard, TensorBoard or tensorboardX).

Nothing heavy is imported until a function is called (the pytest plugin imports this package
in every test session).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["assert_logdir_matches", "assert_text_matches", "dump", "dump_events"]


def _options(**kwargs: Any) -> Any:
    from anyboard.testing._dump import DumpOptions

    if kwargs.get("max_values", 1) < 0:
        raise ValueError(f"max_values must be >= 0, got {kwargs['max_values']!r}")
    return DumpOptions(**kwargs)


def dump(
    path: str | os.PathLike[str],
    *,
    keep_wall_time: bool = False,
    keep_file_names: bool = False,
    keep_file_version: bool = False,
    show_encoding: bool = False,
    histogram_stats: bool = False,
    max_values: int = 1000,
    rename_tag: Callable[[str], str] | None = None,
) -> str:
    """The canonical text of every event under ``path`` (a log directory or one event file).

    Args:
        path: a log directory (every sub-directory holding an event file is a run, named by
            its relative path, ``"."`` for ``path`` itself) or one event file.
        keep_wall_time: append ``wall_time=<float>`` to every event's line.
        keep_file_names: show each event file's name and its ``file_version`` record.
        keep_file_version: show the ``file_version`` records (without the file names).
        show_encoding: add a line per value naming the field it used (``simple_value``,
            ``histo``, ``image``, ``audio``, or ``tensor`` with dtype and shape) and its
            metadata; legacy and v2 encodings then differ.
        histogram_stats: show a ``HistogramProto``'s min, max, num, sum and sum of squares
            (v2 ``[k, 3]`` histograms have none).
        max_values: tensors with more elements are shown as a SHA-256 of their bytes.
        rename_tag: map each tag before it is shown (e.g. drop the peers' ``/text_summary``).

    Returns:
        The text, ending in a newline. Raises ``FileNotFoundError`` if ``path`` does not exist
        and :class:`anyboard.RecordError` for a corrupt record (a torn final record is read as
        the end of the file, as TensorBoard does).
    """
    from anyboard.testing._dump import dump_path

    opts = _options(
        keep_wall_time=keep_wall_time,
        keep_file_names=keep_file_names,
        keep_file_version=keep_file_version,
        show_encoding=show_encoding,
        histogram_stats=histogram_stats,
        max_values=max_values,
        rename_tag=rename_tag,
    )
    return dump_path(path, opts)


def dump_events(
    events: Iterable[Any],
    *,
    run: str = ".",
    keep_wall_time: bool = False,
    keep_file_version: bool = False,
    show_encoding: bool = False,
    histogram_stats: bool = False,
    max_values: int = 1000,
    rename_tag: Callable[[str], str] | None = None,
) -> str:
    """:func:`dump`'s text for protos in memory: ``Event`` or ``Summary`` messages (a Summary is
    shown as an event at step 0), of anyboard, TensorBoard or tensorboardX, as one run named ``run``.

    The options are :func:`dump`'s; ``keep_file_version`` shows ``file_version`` records (with
    ``show_encoding``, also their ``source_metadata`` writer name)."""
    from anyboard.testing._dump import HEADER, _q, dump_event_lines

    opts = _options(
        keep_wall_time=keep_wall_time,
        keep_file_version=keep_file_version,
        show_encoding=show_encoding,
        histogram_stats=histogram_stats,
        max_values=max_values,
        rename_tag=rename_tag,
    )
    lines = [HEADER, f"run {_q(run)}", *dump_event_lines(events, opts)]
    return "\n".join(lines) + "\n"


def assert_text_matches(actual: str, golden_file: str | os.PathLike[str], *, update: bool | None = None) -> None:
    """Compare a dump (or any text) with ``golden_file``; see :func:`assert_logdir_matches`."""
    from anyboard.testing._golden import assert_text_matches as check

    check(actual, golden_file, update=update)


def assert_logdir_matches(
    path: str | os.PathLike[str],
    golden_file: str | os.PathLike[str],
    *,
    update: bool | None = None,
    **dump_options: Any,
) -> None:
    """Assert that ``dump(path, **dump_options)`` equals the text in ``golden_file``.

    On a mismatch raises ``AssertionError`` listing the values that differ (``run "...", tag
    "...", step N``) and a unified diff (golden ``-``, actual ``+``). A missing golden file
    fails with a message saying how to create it.

    ``update``: ``True`` writes the golden file (creating its directories) and passes;
    ``False`` never writes; ``None`` (default) writes when ``ANYBOARD_UPDATE_GOLDENS=1`` is
    set or pytest runs with ``--anyboard-update-goldens``. Review the new file before
    committing it.
    """
    assert_text_matches(dump(path, **dump_options), golden_file, update=update)
