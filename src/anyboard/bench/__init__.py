"""Write-throughput benchmarks of anyboard against tensorboardX and torch.utils.tensorboard.

The code behind ``anyboard bench`` (your machine, your storage) and
``benchmarks/compare_peers.py`` (anyboard's own tables):

- :mod:`anyboard.bench.workloads`: what is logged (scalars, a scalars dict, histograms of
  1e4/1e6 values, 1e4-1e7-value bursts, images, text);
- :mod:`anyboard.bench.harness`: a fresh writer per repetition, writers interleaved in one
  process, every file read back and CRC-checked;
- :mod:`anyboard.bench.report`: paired ratios against the faster peer, tables, JSON, plot.

Nothing here runs on import; the peers are imported only when they are timed.
"""

from __future__ import annotations
