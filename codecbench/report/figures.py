"""Every plot of a report: rate-quality curves and heatmaps (``report.plots``) per plotted metric, then
the codebook-utilization plot (``report.codebook_plot``)."""

from __future__ import annotations

from pathlib import Path

from codecbench.report.codebook_plot import codebook_usage
from codecbench.report.plots import Plot, heatmap, plotted_metrics, rate_quality
from codecbench.report.tables import Board


def all_plots(board: Board, out: Path, all_metrics: bool = False) -> list[Plot]:
    metrics = plotted_metrics(board, all_metrics)
    plots = [p for m in metrics if (p := rate_quality(board, m, out))]
    plots += [p for m in metrics if (p := heatmap(board, m, out))]
    p = codebook_usage(board, board.runs, out)
    return plots + ([p] if p else [])
