"""Drop-in pieces for the training frameworks that build their own TensorBoard writer.

- :mod:`anyboard.integrations.lightning`: ``TensorBoardLogger`` for Lightning (``lightning`` or
  ``pytorch_lightning``), whose ``experiment`` is an :class:`anyboard.SummaryWriter`.
- :mod:`anyboard.integrations.pytorch_lightning`: the same logger built on the standalone
  ``pytorch_lightning`` package.
- :mod:`anyboard.integrations.transformers`: ``TensorBoardCallback`` for the Hugging Face ``Trainer``.
- pytorch-ignite needs no module: call :func:`anyboard.patch` before building its ``TensorboardLogger``.

Importing this package imports no framework; each module imports only its own.
"""
