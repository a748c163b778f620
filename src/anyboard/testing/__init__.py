"""Golden-file testing of what your code logs.

::

    from anyboard.testing import assert_logdir_matches, dump

    def test_training_logs(tb_logdir):              # fixture from anyboard's pytest plugin
        train(logdir=tb_logdir, steps=3)
        assert_logdir_matches(tb_logdir, "tests/golden/train.txt")

- :func:`dump` turns every event under a log directory (or one event file) into a canonical,
  deterministic text: runs sorted, events in TensorBoard's reading order, each value with its
  step, tag, plugin and decoded content. Encoded media are shown as shape plus a hash of the
  DECODED pixels or samples; wall times (time-stamp run names too), host names, pids and
  file names are left out. The same calls made through anyboard, ``torch.utils.tensorboard``
  or tensorboardX give the same dump wherever their semantics agree, and legacy (TF 1.x) and
  tensor (v2) encodings of the same summary are shown alike wherever TensorBoard shows them
  alike (not a histogram's outer edges: a legacy one's are its min and max);
  ``show_encoding=True`` tells them apart.
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
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11; a name for the type checker only

__all__ = ["assert_logdir_matches", "assert_text_matches", "dump", "dump_events"]


class EventDumpOptions(TypedDict, total=False):
    """The options of :func:`dump_events` (and :func:`dump`); defaults in ``_dump.DumpOptions``."""

    keep_wall_time: bool
    keep_file_version: bool
    show_encoding: bool
    histogram_stats: bool
    max_values: int
    rename_tag: Callable[[str], str] | None
    rename_run: Callable[[str], str] | None


class DumpOptions(EventDumpOptions, total=False):
    """The options of :func:`dump` and :func:`assert_logdir_matches` (see :func:`dump`)."""

    keep_file_names: bool


def _options(options: EventDumpOptions) -> Any:
    """The options as ``_dump.DumpOptions`` (a TypeError names an unknown option, or an option
    of the wrong type and the type expected)."""
    from anyboard.testing._dump import DumpOptions as Options

    return Options(**options)


def dump(path: str | os.PathLike[str], **options: Unpack[DumpOptions]) -> str:
    """The canonical text of every event under ``path`` (a log directory or one event file).

    Args (every option keyword-only, False by default):
        path: a log directory (every sub-directory holding an event file is a run, named by
            its relative path with ``/`` separators, ``"."`` for ``path`` itself; runs found as
            :func:`anyboard.read.find_runs` finds them) or one event file; a local path or an
            fsspec URL (``memory://``, ``s3://``: credentials from the environment). A level
            of a run name that is a time stamp (``1796680351.185562``: the run ``add_hparams``
            makes without ``run_name``) is shown as ``<time>``.
        keep_wall_time: append ``wall_time=<float>`` to every event's line, and show
            time-stamp run names as they are.
        keep_file_names: show each event file's name and its ``file_version`` record.
        keep_file_version: show the ``file_version`` records (without the file names).
        show_encoding: add a line per value naming the field it used (``simple_value``,
            ``histo``, ``image``, ``audio``, or ``tensor`` with dtype, shape and the
            ``TensorProto`` field holding the values, plus an image tensor's width and height
            strings) and its metadata, show the empty histogram buckets among those TensorBoard
            shows, and a ``HistogramProto``'s stored ``bucket_limit`` and ``bucket`` lists;
            legacy and v2 encodings then differ.
        histogram_stats: show a ``HistogramProto``'s min, max, num, sum and sum of squares
            (v2 ``[k, 3]`` histograms have none).
        max_values: tensors with more elements are shown as a SHA-256 of their bytes
            (default 1000).
        rename_tag: map each tag before it is shown (e.g. drop the peers' ``/text_summary``;
            default None).
        rename_run: map each run name (``/`` separators, time stamps already ``<time>``)
            before it is shown; runs are sorted by the names shown (default None).

    Histograms are shown as TensorBoard shows them: a ``HistogramProto`` (the default
    ``summary_format``) as TensorBoard converts it on read, its empty end buckets dropped and
    its ``min`` and ``max`` as the outer edges (kept as float64); a ``[k, 3]`` tensor's rows as
    stored. Only the non-empty buckets are listed (all of them with ``show_encoding``).

    Raises ``TypeError`` naming an option of the wrong type (``max_values`` an int,
    ``rename_tag``/``rename_run`` a function returning a str, the others bools).

    Returns:
        The text, ending in a newline. Raises ``FileNotFoundError`` if ``path`` does not exist
        and :class:`anyboard.RecordError` for a corrupt record (a torn final record is read as
        the end of the file, as TensorBoard does).
    """
    from anyboard.testing._dump import dump_path

    return dump_path(path, _options(options))


def dump_events(events: Iterable[Any], *, run: str = ".", **options: Unpack[EventDumpOptions]) -> str:
    """:func:`dump`'s text for protos in memory: ``Event`` or ``Summary`` messages (a Summary is
    shown as an event at step 0), of anyboard, TensorBoard or tensorboardX, as one run named ``run``.

    The options are :func:`dump`'s; ``keep_file_version`` shows ``file_version`` records (with
    ``show_encoding``, also their ``source_metadata`` writer name)."""
    from anyboard.testing._dump import dump_messages

    return dump_messages(events, run, _options(options))


def assert_text_matches(actual: str, golden_file: str | os.PathLike[str], *, update: bool | None = None) -> None:
    """Compare a dump (or any text) with ``golden_file``; see :func:`assert_logdir_matches`."""
    __tracebackhide__ = True  # pytest: a mismatch is reported at the test's own line
    from anyboard.testing._golden import assert_text_matches as check

    check(actual, golden_file, update=update)


def assert_logdir_matches(
    path: str | os.PathLike[str],
    golden_file: str | os.PathLike[str],
    *,
    update: bool | None = None,
    **dump_options: Unpack[DumpOptions],
) -> None:
    """Assert that ``dump(path, **dump_options)`` equals the text in ``golden_file``.

    On a mismatch raises ``AssertionError`` listing the values that differ (``run "...", tag
    "...", step N``) and a unified diff (golden ``-``, actual ``+``). A missing golden file
    fails with a message saying how to create it.

    The texts match when they differ only in ``\r\n`` line ends or one newline at the end of
    the golden file (missing, or one extra). A long diff is cut after 200 lines, and a large
    one is found value by value (linear) rather than line by line.

    ``update``: ``True`` writes the golden file (creating its directories) and passes;
    ``False`` never writes; ``None`` (default) writes when ``ANYBOARD_UPDATE_GOLDENS=1`` is
    set or pytest runs with ``--anyboard-update-goldens``; anything else is a ``TypeError``.
    Review the new file before committing it.
    """
    __tracebackhide__ = True  # pytest: a mismatch is reported at the test's own line
    from anyboard.testing._golden import should_update

    should_update(update)  # a wrong type fails before the logs are read
    assert_text_matches(dump(path, **dump_options), golden_file, update=update)
