"""Which codec a report may call best, with the evidence (codecbench.claims).

The leader of a (language, metric) column is the codec with the best reliable mean; it is marked
best (bold) only when it is significantly better than the runner-up by a paired test over the
utterances both scored (mean paired difference, 95% bootstrap CI, two-sided sign-flip p < 0.05).
Otherwise the report says "no significant difference". A figure without per-utterance values
(corpus-level WER, ABX summaries) or runs over mixed utterance sets get no mark.
"""

from __future__ import annotations

import numpy as np

from codecbench.claims import Difference, EvalSet, Standing
from codecbench.report.runs import ALL_LANGS
from codecbench.store import FAILURE_SUFFIX


def _values(board, label: str, lang: str, metric: str):
    """Per-utterance values of a codec label (NaN where a row records a failure), or None."""
    import pandas as pd

    info = board.codec_info.get(label, {})
    run = next((r for r in board.runs if r.name == info.get("run")), None)
    if run is None:
        return None
    rows = run.rows()
    if metric not in rows.columns:
        return None
    sub = rows[rows["codec"] == info.get("codec")]
    if lang != ALL_LANGS:
        sub = sub[sub["lang"].astype(str) == lang]
    v = sub[metric].to_numpy(dtype=np.float64, na_value=np.nan).copy()
    if metric + FAILURE_SUFFIX in sub.columns:
        v[sub[metric + FAILURE_SUFFIX].fillna("").astype(str).to_numpy() != ""] = np.nan
    return pd.Series(v, index=sub["utt_id"].astype(str).to_numpy())


def leader_standing(board, lang: str, metric: str) -> Standing | None:
    """The column leader against the runner-up, with the paired evidence; None when there is no
    direction, fewer than two values, mixed utterance sets or no per-utterance values."""
    hib = board.metric_info.get(metric, {}).get("higher_is_better")
    if hib is None or board.mixed:
        return None
    vals = [(board.cell(c, lang, metric).mean, c) for c in board.codecs if board.cell(c, lang, metric).has_value]
    if len(vals) < 2:
        return None
    vals.sort(reverse=bool(hib))
    leader, runner = vals[0][1], vals[1][1]
    a, b = _values(board, leader, lang, metric), _values(board, runner, lang, metric)
    if a is None or b is None:
        return None
    common = a.index.intersection(b.index)
    if not len(common):
        return None
    diff = Difference.from_scores(metric, metric, bool(hib), b.loc[common].to_numpy(), a.loc[common].to_numpy())
    where = EvalSet(f"run{'s' if len(board.runs) > 1 else ''} {', '.join(r.name for r in board.runs)}", diff.n,
                    () if lang == ALL_LANGS else (lang,))
    return Standing(leader, runner, where, (diff,))


def short_text(s: Standing) -> str:
    """'pesq_wb: codec-b better than codec-a (+0.500 [+0.42, +0.58], p < 0.001; n = 20)'."""
    d = s.differences[0]
    word = d.outcome(s.alpha)
    head = (f"{s.candidate} {word} than {s.baseline}" if word != "no significant difference" else
            f"{s.candidate} leads, no significant difference from {s.baseline}")
    return f"{d.metric}: {head} ({d.evidence().split(' ', 1)[1]}; n = {d.n} paired utterances)"
