"""``codecbench mushra-analyze``: post-screen MUSHRA ratings and report scores with 95% t-intervals.

The ratings are webMUSHRA's ``mushra.csv`` and/or the CSV files the listening page of
``codecbench mushra --html`` downloads (one per session; give the files or a folder of them).

Listeners who rated the hidden reference below ``--threshold`` (90) for more than ``--max-share``
(15%) of the items they rated are excluded (ITU-R BS.1534-3 post-screening). The training page
(trial id "training") is never scored. Per condition and language: mean ± t(0.975, n-1)·s/√n over
all retained ratings, as BS.1534-3 presents results; CSV, markdown and a plot.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from codecbench.report.cells import md_text
from codecbench.report.mushra_items import ANCHORS, REFERENCE, TRAINING, MushraError
from codecbench.report.runs import ALL_LANGS

LISTENER_COLUMNS = ("session_uuid", "uuid", "name", "email", "listener", "participant", "listener_id")


@dataclass
class Screening:
    listener: str
    items: int
    items_ref_below: int
    excluded: bool


def post_screen(ratings, listener_col: str, threshold: float = 90.0, max_share: float = 0.15) -> list[Screening]:
    """BS.1534-3: exclude a listener who rates the hidden reference below ``threshold`` for more than
    ``max_share`` of the items (trials) they rated."""
    out = []
    for listener, df in ratings.groupby(listener_col, sort=True):
        ref = df[df["rating_stimulus"] == REFERENCE]
        per_item = ref.groupby("trial_id")["rating_score"].min()
        n_items = int(df["trial_id"].nunique())
        below = int((per_item < threshold).sum())
        out.append(Screening(str(listener), n_items, below, n_items > 0 and below / n_items > max_share))
    return out


def t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and its t-interval (NaN bounds for fewer than two values)."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    m = float(x.mean())
    if len(x) < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return m, m - half, m + half


def rating_files(paths: str | Path | list[str | Path]) -> list[Path]:
    """The CSV files given: files as they are, a folder as its ``*.csv`` (sorted)."""
    out: list[Path] = []
    for path in paths if isinstance(paths, list) else [paths]:
        p = Path(path)
        if p.is_dir():
            found = sorted(p.glob("*.csv"))
            if not found:
                raise MushraError(f"no ratings (*.csv) in the folder {p}")
            out += found
        elif p.exists():
            out.append(p)
        else:
            raise MushraError(f"no ratings file at {p}")
    return out


def read_ratings(paths: str | Path | list[str | Path], listener_col: str | None):
    """One table of ratings from webMUSHRA's mushra.csv and/or the listening page's CSV downloads
    (``format`` codecbench-mushra-1, one file per session); ``source`` names each row's file. A listener
    who rated a stimulus of a page twice (the same file given twice, two sessions under one id) is refused."""
    import pandas as pd

    df = pd.concat([_read_one(p, listener_col) for p in rating_files(paths)], ignore_index=True)
    twice = df.duplicated(["listener", "trial_id", "rating_stimulus"], keep=False)
    if twice.any():
        r = df[twice].iloc[0]
        where = sorted(set(df[twice & (df["listener"] == r["listener"])]["source"]))
        raise MushraError(f"listener {r['listener']} rated {r['rating_stimulus']} of page {r['trial_id']} more than "
                          f"once (in {', '.join(where)}): give each session's ratings once; two sessions of one "
                          "listener id need one of them removed or the listener renamed")
    return df


def _read_one(p: Path, listener_col: str | None):
    import pandas as pd

    from codecbench.report.mushra_page import PAGE_FORMAT

    try:
        df = pd.read_csv(p, dtype={"trial_id": str, "rating_stimulus": str})
    except (ValueError, UnicodeDecodeError) as exc:
        raise MushraError(f"{p} is not a ratings CSV: {exc}") from exc
    need = {"trial_id", "rating_stimulus", "rating_score"}
    if not need <= set(df.columns):
        raise MushraError(f"{p} is not a webMUSHRA mushra.csv nor a listening-page CSV (needs columns "
                          f"{', '.join(sorted(need))})")
    if "format" in df.columns and set(df["format"].astype(str)) != {PAGE_FORMAT}:
        raise MushraError(f"{p}: unknown ratings format {sorted(set(df['format'].astype(str)))} (this codecbench "
                          f"reads {PAGE_FORMAT} and webMUSHRA's mushra.csv)")
    col = listener_col or next((c for c in LISTENER_COLUMNS if c in df.columns), None)
    if col is None or col not in df.columns:
        raise MushraError(f"no listener column in {p} (looked for {', '.join(LISTENER_COLUMNS)}); name it with "
                          "--listener-column")
    df = df.copy()
    df["listener"] = df[col].astype(str)
    df["rating_score"] = pd.to_numeric(df["rating_score"], errors="coerce")
    df["trial_id"] = df["trial_id"].astype(str)
    df["rating_stimulus"] = df["rating_stimulus"].astype(str)
    df["source"] = p.name
    return df


def check_test_id(ratings, items_meta: dict[str, Any] | None) -> None:
    """Listening-page ratings carry the test id of their stimulus set; refuse those of another set."""
    tid = (items_meta or {}).get("test_id")
    if not tid or "format" not in ratings.columns:
        return
    page = ratings[ratings["format"].notna()]
    other = page[page["session_test_id"].astype(str) != tid]
    if len(other):
        raise MushraError(f"{', '.join(sorted(set(other['source'])))} rated another stimulus set (test id "
                          f"{other['session_test_id'].iloc[0]}; --items says {tid}): give the mushra_items.json "
                          "written with that listening page")


def analyze(ratings, items_meta: dict[str, Any] | None, threshold: float = 90.0, max_share: float = 0.15):
    """(screening, scores DataFrame: condition, lang, n, n_listeners, mean, ci_low, ci_high)."""
    import pandas as pd

    ratings = ratings[ratings["trial_id"].astype(str) != TRAINING]
    screening = post_screen(ratings, "listener", threshold, max_share)
    keep = {s.listener for s in screening if not s.excluded}
    df = ratings[ratings["listener"].isin(keep)].copy()
    trial_lang, stim_cond = {}, {}
    for it in (items_meta or {}).get("items", []):
        trial_lang[it["id"]] = it["lang"]
        for k, cond in it["stimuli"].items():
            stim_cond[k] = cond
    df["lang"] = df["trial_id"].map(lambda t: trial_lang.get(t, ALL_LANGS))
    df["condition"] = df["rating_stimulus"].map(lambda s: stim_cond.get(s, s))
    rows = []
    langs = sorted(set(df["lang"]) - {ALL_LANGS})
    for cond in sorted(df["condition"].unique(), key=_condition_order):
        for lang in [*langs, ALL_LANGS]:
            sel = df[(df["condition"] == cond) & ((df["lang"] == lang) if lang != ALL_LANGS else True)]
            m, lo, hi = t_interval(sel["rating_score"].to_numpy())
            rows.append({"condition": cond, "lang": lang, "n": int(sel["rating_score"].notna().sum()),
                         "n_listeners": int(sel["listener"].nunique()), "mean": m, "ci_low": lo, "ci_high": hi})
    return screening, pd.DataFrame(rows, columns=["condition", "lang", "n", "n_listeners", "mean", "ci_low", "ci_high"])


def _condition_order(c: str) -> tuple[int, str]:
    return (0 if c == REFERENCE else 2 if c in ANCHORS else 1, c)


def scores_markdown(screening: list[Screening], scores, threshold: float, max_share: float) -> str:
    excluded = [s for s in screening if s.excluded]
    lines = [f"## MUSHRA results ({len(screening) - len(excluded)} of {len(screening)} listeners kept)", "",
             f"Post-screening (ITU-R BS.1534-3): listeners who rated the hidden reference below {threshold:g} for more "
             f"than {100 * max_share:g}% of their items are excluded.", ""]
    if excluded:
        lines += ["Excluded: " + ", ".join(f"{s.listener} ({s.items_ref_below}/{s.items} items)" for s in excluded), ""]
    lines += ["Mean score with 95% t-interval over all retained ratings.", "",
              "| condition | lang | n | listeners | mean [95% CI] |", "|---|---|---:|---:|---|"]
    for r in scores.to_dict("records"):
        ci = "" if not math.isfinite(r["ci_low"]) else f" [{r['ci_low']:.1f}, {r['ci_high']:.1f}]"
        mean = "–" if not math.isfinite(r["mean"]) else f"{r['mean']:.1f}"
        lines.append(f"| {md_text(r['condition'])} | {md_text(r['lang'])} | {r['n']} | {r['n_listeners']} | {mean}{ci} |")
    return "\n".join(lines) + "\n"



def plotted_langs(scores) -> list[str]:
    """The languages of the plot: the pooled "all" only when it pools more than one language's ratings."""
    langs = list(dict.fromkeys(scores["lang"]))
    real = [x for x in langs if x != ALL_LANGS]
    if len(real) == 1:
        n = scores.set_index(["condition", "lang"])["n"]
        if all(n.get((c, real[0])) == n.get((c, ALL_LANGS)) for c in scores["condition"].unique()):
            return real
    return langs


def scores_plot(scores, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conds = list(dict.fromkeys(scores["condition"]))
    langs = plotted_langs(scores)
    width = 0.8 / max(1, len(langs))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(conds) * max(1, len(langs)) ** 0.5), 3.8))
    for j, lang in enumerate(langs):
        sub = scores[scores["lang"] == lang].set_index("condition").reindex(conds)
        xs = np.arange(len(conds)) - 0.4 + width * (j + 0.5)
        m = sub["mean"].to_numpy(dtype=float)
        lo = np.nan_to_num(m - sub["ci_low"].to_numpy(dtype=float))
        hi = np.nan_to_num(sub["ci_high"].to_numpy(dtype=float) - m)
        ax.bar(xs, m, width=width, yerr=[lo, hi], capsize=2, label=lang)
    ax.set_xticks(range(len(conds)))
    ax.set_xticklabels(conds, rotation=20, ha="right")
    top = scores.loc[scores["lang"].isin(langs), "ci_high"].max()
    ax.set_ylim(0, max(100.0, float(top) if np.isfinite(top) else 100.0) + 3)  # CI bounds are not clipped to 100
    ax.set_ylabel("MUSHRA score")
    if len(langs) > 1:
        ax.set_title("MUSHRA: mean and 95% CI per condition and language")
        ax.legend(fontsize=7)
    else:
        ax.set_title(f"MUSHRA: mean and 95% CI per condition ({'all items' if langs[0] == ALL_LANGS else langs[0]})")
    ax.grid(True, axis="y", alpha=0.3)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "mushra_scores.png", out / "mushra_scores.svg"]
    for p in paths:
        fig.savefig(p, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return paths


def run_analysis(args: argparse.Namespace) -> int:
    try:
        ratings = read_ratings(args.ratings, args.listener_column)
        meta = json.loads(Path(args.items).read_text(encoding="utf-8")) if args.items else None
    except (OSError, ValueError) as exc:
        raise MushraError(f"cannot read the ratings or items: {exc}") from exc
    check_test_id(ratings, meta)
    screening, scores = analyze(ratings, meta, args.threshold, args.max_share)
    if not any(not s.excluded for s in screening):
        why = (f"all {len(screening)} listener(s) were excluded by post-screening (ITU-R BS.1534-3: hidden reference "
               f"rated below {args.threshold:g} for more than {100 * args.max_share:g}% of their items: "
               + ", ".join(f"{s.listener} {s.items_ref_below}/{s.items}" for s in screening[:8])
               + ("..." if len(screening) > 8 else "") + ")") if screening else "the ratings hold no listener's test items"
        print(f"codecbench mushra-analyze: error: no listener kept: {why}; no scores computed (--threshold and "
              "--max-share set the screening)", file=sys.stderr)
        return 1
    first = Path(args.ratings[0] if isinstance(args.ratings, list) else args.ratings)
    out = Path(args.out) if args.out else first if first.is_dir() else first.parent
    out.mkdir(parents=True, exist_ok=True)
    scores.to_csv(out / "mushra_scores.csv", index=False)
    md = scores_markdown(screening, scores, args.threshold, args.max_share)
    (out / "mushra_scores.md").write_text(md, encoding="utf-8")
    if not scores.empty:
        scores_plot(scores, out)
    print(md)
    return 0
