"""Summaries: statuses (ok / unreliable / n/a / failed), CIs, and corpus-level ASR rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from codecbench.metrics.asr.corpus import corpus_rows
from codecbench.metrics.asr.errors import load_transcripts
from codecbench.summary import markdown, summarize

META = {"m": {"outputs": [{"name": "wer", "higher_is_better": False, "unit": ""}], "library": "jiwer", "version": "4",
              "mode": None, "model": "whisper-base", "sample_rate": 16000}}


def _rows(values, failures, langs):
    """``failures``: "" or "kind: reason" per row."""
    kinds = [f.split(": ", 1)[0] if f else "" for f in failures]
    reasons = [f.split(": ", 1)[1] if f else "" for f in failures]
    return pd.DataFrame({"codec": "c", "utt_id": [f"u{i}" for i in range(len(values))], "lang": langs, "status": "ok",
                         "wer": values, "wer__failure": reasons, "wer__kind": kinds})


def test_statuses_and_ci():
    rows = _rows([0.1, 0.2, 0.3, np.nan, np.nan, np.nan], ["", "", "", "unreliable: wrong script", "unreliable: wrong script",
                                                         "not_applicable: x"], ["en", "en", "en", "hi", "hi", "ta"])
    s = summarize(rows, META, {}).set_index("lang")
    assert s.loc["en", "status"] == "ok" and abs(s.loc["en", "mean"] - 0.2) < 1e-12 and s.loc["en", "ci_low"] <= 0.2 <= s.loc["en", "ci_high"]
    assert s.loc["hi", "status"] == "unreliable" and np.isnan(s.loc["hi", "mean"]) and "wrong script" in s.loc["hi", "note"]
    assert s.loc["ta", "status"] == "n/a"
    assert s.loc["all", "status"] == "unreliable"  # 2 of 6 rows unreliable: no pooled number
    md = markdown(summarize(rows, META, {}), [], META, {}, "run")
    assert "unreliable: unreliable" not in md and "| c | 2 | unreliable[^1] |" in md
    assert md.count("wrong script") == 1 and "[^1]: unreliable: wrong script" in md


def test_failed_when_no_value():
    rows = _rows([np.nan, np.nan], ["failed: PESQ NoUtterancesError", "failed: PESQ NoUtterancesError"], ["en", "en"])
    s = summarize(rows, META, {}).set_index("lang")
    assert s.loc["en", "status"] == "failed" and s.loc["en", "note"] == "PESQ NoUtterancesError"


def test_corpus_asr_rows_sum_errors_over_words(tmp_path):
    recs = [{"codec": "c", "utt_id": "u0", "lang": "en", "kind": "wer", "reference_unreliable": False,
             "wer_counts": {"word_errors": 1, "words": 10, "char_errors": 1, "chars": 50}},
            {"codec": "c", "utt_id": "u1", "lang": "en", "kind": "wer", "reference_unreliable": False,
             "wer_counts": {"word_errors": 3, "words": 2, "char_errors": 2, "chars": 10}},
            {"codec": "c", "utt_id": "u2", "lang": "hi", "kind": "wer", "reference_unreliable": True}]
    (tmp_path / "asr_transcripts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = {(r.lang, r.metric): r.to_dict() for r in corpus_rows(load_transcripts(tmp_path), META["m"], {})}
    assert out[("en", "wer_corpus")]["mean"] == 4 / 12 and out[("en", "cer_corpus")]["mean"] == 3 / 60
    assert out[("hi", "wer_corpus")]["status"] == "unreliable"
    assert out[("all", "wer_corpus")]["status"] == "unreliable"  # 1 of 3 utterances is over the 20% share


def test_unavailable_is_its_own_status():
    rows = _rows([np.nan, np.nan], ["unavailable: no model", "unavailable: no model"], ["en", "en"])
    s = summarize(rows, META, {}).set_index("lang")
    assert s.loc["en", "status"] == "unavailable" and s.loc["en", "note"] == "no model"


def test_markdown_escapes_names_and_reasons():
    rows = _rows([0.1, np.nan], ["", "failed: <script>x</script> | y"], ["en", "en"])
    rows["codec"] = "<b>c</b>"
    md = markdown(summarize(rows, META, {}), [], META, {}, "run")
    assert "<b>" not in md and "<script>" not in md and "&lt;b&gt;c&lt;/b&gt;" in md
