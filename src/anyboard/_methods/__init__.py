"""``add_*`` method groups mixed into :class:`anyboard.SummaryWriter`.

Each module defines one ``Methods`` mixin that uses only the emit API of
``anyboard.writer._WriterBase`` (``_tag``, ``_array``, ``_emit``,
``_emit_event``, ``_run_stream``); heavy or optional imports happen inside the
methods, never at module import.
"""
