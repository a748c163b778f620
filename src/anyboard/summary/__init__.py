"""Pure summary builders: NumPy in, ``Summary`` proto out.

No I/O, threads, clocks or frameworks here; one module per summary type
(``audio``, ``custom_scalars``, ``histogram``, ``hparams``, ``image``, ``mesh``,
``pr_curve``, ``scalar``, ``tensor``, ``text``, ``video``), each module's
docstring stating its on-disk encoding, each with a builder of the module's
name: ``from anyboard.summary.histogram import histogram``.

The builders are deliberately not re-exported here: a function named like its
module would shadow the module (``anyboard.summary.histogram`` would stop
being importable as one).
"""
