"""What a metric's corpus-level aggregate sees and gives back (``Metric.aggregate``).

Some figures exist only over a corpus: corpus WER (errors summed over all words), minimal-pair ABX
(triplets across utterances), pooled codebook utilization. A metric computes them in its own module,
from the run's rows and its own side records (``Metric.streams``) and per-item arrays
(``Metric.folders``); the summary calls every metric's ``aggregate`` in one loop and writes what it
returns through the run folder, so adding such a figure touches the metric's module only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from codecbench.rows import SummaryRow

if TYPE_CHECKING:
    import pandas as pd

    from codecbench.store import RunFolder


@dataclass
class Corpus:
    """A run as one metric's aggregate sees it (read only: nothing here writes)."""

    folder: RunFolder  # for the metric's per-item arrays (``load_arrays``) and the codes (``codes``)
    rows: pd.DataFrame  # the run's rows (a report may restrict them to some utterances)
    meta: dict[str, Any]  # this metric's metrics.json entry (MetricInfo, options)
    codecs: dict[str, dict[str, Any]]  # codecs.json
    dataset: list[dict[str, Any]]  # dataset.json
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # per declared stream: the
    # last record per (codec, utt_id), only of rows in ``rows``

    def row(self, codec: str, lang: str, metric: str, **figures: Any) -> SummaryRow:
        """A summary row of this metric with its provenance (``SummaryRow.of``)."""
        return SummaryRow.of(codec, lang, metric, self.meta, self.codecs.get(codec, {}), **figures)


@dataclass
class Table:
    """A table for summary.md: cells already as text (the metric chooses digits); the summary escapes them."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    align: str = ""  # per column "l" or "r" (default: the first two left, the rest right)


@dataclass
class Aggregate:
    """What an aggregate gives back: summary rows (summary.csv), files for the run folder (name ->
    a DataFrame written as .csv/.parquet, text, or anything JSON), tables for summary.md and, for a
    metric with ``MetricInfo.corpus_outputs``, their per-utterance ``values`` (columns codec, utt_id,
    then one per corpus output; an utterance without a value is absent or NaN), which the run folder
    keeps (``RunFolder.write_corpus_values``) and ``codecbench compare`` pairs like row values."""

    rows: list[SummaryRow] = field(default_factory=list)
    files: dict[str, Any] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    values: pd.DataFrame | None = None
    metric: str = ""  # the metric that made it (set by the summary)
