"""Claims carry their evidence: standings name the test set, n, the mean paired difference with its CI
and p, say "no significant difference" when the test does, and say when the test set was drawn from
the training corpus; `codecbench codecs` and the checkpoint cards print nothing else."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from codecbench.claims import Difference, EvalSet, Standing, standings_text

HINDI = EvalSet("../shared/testdata/hi", 16, ("hi",), "hindi-news-1h", held_out=True)


def test_a_non_significant_difference_is_said_so_with_n_ci_and_p():
    s = Standing("ours-rvq", "opus-6kbps", HINDI, (
        Difference("pesq_wb", "PESQ-wb", True, 16, 0.102, -0.035, 0.220, 0.159),
        Difference("stoi", "STOI", True, 16, 0.006, -0.005, 0.015, 0.300)))
    text = s.text()
    assert text.startswith("no significant difference from opus-6kbps on PESQ-wb or STOI")
    assert "PESQ-wb +0.102 [-0.035, +0.220], p = 0.159" in text and "STOI +0.006 [-0.005, +0.015], p = 0.300" in text
    assert "16 hi clips of ../shared/testdata/hi" in text
    assert "drawn from the training corpus hindi-news-1h" in text and "not an independent test set" in text
    assert "beats" not in text
    assert Standing.from_dict(json.loads(json.dumps(s.to_dict()))) == s


def test_significant_differences_say_better_or_worse_by_direction():
    rng = np.random.default_rng(0)
    base = rng.normal(2.0, 0.3, 20)
    up = Difference.from_scores("pesq_wb", "PESQ-wb", True, base, base + 0.3 + rng.normal(0, 0.05, 20))
    wer_up = Difference.from_scores("wer", "WER", False, base, base + 0.3 + rng.normal(0, 0.05, 20))
    assert up.outcome() == "better" and wer_up.outcome() == "worse" and up.n == 20 and up.p_value < 0.001
    s = Standing("a", "b", EvalSet("set", 20), (up, wer_up))
    assert s.verdict() == "better than b on PESQ-wb; worse on WER"
    assert "p < 0.001" in s.text() and "training corpus" not in s.text()  # an independent set says nothing more
    trained_on = EvalSet("train", 20, (), "corpus-x", held_out=False)
    assert "USED IN TRAINING" in Standing("a", "b", trained_on, (up,)).text()


def test_a_free_text_verdict_without_evidence_is_not_repeated():
    lines = standings_text({"verdict": "beats opus-6kbps on PESQ-wb and STOI"})
    assert len(lines) == 1 and "beats" not in lines[0] and "without its evidence" in lines[0]
    assert standings_text(None) == [] and standings_text({"standings": [{"candidate": "x"}]})[0].startswith("a standing")


def test_codecs_prints_no_unsupported_claim(capsys):
    from codecbench.cli import main

    assert main(["codecs"]) == 0
    out = capsys.readouterr().out
    notes = out.rsplit("\n\n", 1)[1]  # the standings: the last block
    assert "beats" not in out
    rvq = [x for x in notes.splitlines() if x.startswith("ours-rvq:")]
    assert rvq and "no significant difference from opus-6kbps on PESQ-wb or STOI" in rvq[0]
    for line in notes.splitlines():
        if "not evaluated" in line:
            continue
        assert re.search(r"\[[-+]\d\.\d+, [-+]\d\.\d+\], p [=<] \d\.\d+", line), line  # CI and p
        assert "16 hi clips" in line and "drawn from the training corpus hindi-news-1h" in line, line


def test_cards_state_the_standings_with_their_evidence():
    from codecbench.codecs.inhouse import CHECKPOINTS

    for kind in ("rvq", "fsq", "vae"):
        card = (CHECKPOINTS / f"ours-{kind}" / "TRAINING.md").read_text(encoding="utf-8")
        evaluation = card.split("## Evaluation", 1)[1]
        assert "beats" not in card
        assert "drawn from the training corpus hindi-news-1h" in evaluation
        meta = json.loads((CHECKPOINTS / f"ours-{kind}" / "config.json").read_text())
        for s in meta["evaluation"]["standings"]:
            st = Standing.from_dict(s)
            n = 48 if s.get("written_by") == "bench/inhouse_conditions.py" else 16  # + espeak-ng en/ta, 16 each
            assert st.test_set.n == n and all(d.n == n for d in st.differences)
            assert st.text() in evaluation


def test_training_overlap_finds_clips_drawn_from_the_corpus(testdata, tmp_path):
    from codecbench import audio
    from codecbench.inhouse.card import training_overlap

    corpus = testdata.parent / "corpora" / "hindi-news-1h" / "manifest.jsonl"
    items = [(p.stem, *audio.load(p)) for p in sorted((testdata / "hi").glob("*.wav"))[:3]]
    found = training_overlap(items, [f"{corpus}[16:-20]"])
    assert found == {"corpus": "hindi-news-1h", "matched": 3, "in_training": 0}
    assert training_overlap(items, [f"{corpus}[0:2]"])["in_training"] == 2  # the first two were trained on
    other = [("x", np.zeros(16000, np.float32) + 0.1, 16000)]
    assert training_overlap(other, [str(corpus)]) == {"corpus": "", "matched": 0, "in_training": 0}
    assert training_overlap(items, [str(tmp_path / "missing.jsonl")])["corpus"] == ""


def test_description_of_a_loaded_checkpoint_carries_the_evidence():
    from codecbench.codecs.inhouse import CHECKPOINTS, verdict

    meta = json.loads((CHECKPOINTS / "ours-rvq" / "config.json").read_text())
    text = verdict(meta)
    assert "opus-6kbps" in text and "p = " in text and "16 hi clips" in text
    assert verdict({}) .startswith("not evaluated")


@pytest.mark.parametrize("p", [0.049, 0.05])
def test_the_word_follows_the_test_at_alpha(p):
    d = Difference("m", "M", True, 30, 0.1, 0.01, 0.2, p)
    assert d.outcome() == ("better" if p < 0.05 else "no significant difference")


def test_report_marks_best_only_when_significant_and_lists_the_evidence(tmp_path):
    from report_fixture import build_run, cli

    clear = build_run(tmp_path / "clear", codecs={"codec-a": 0.0, "codec-b": 0.5}, per_lang=12)
    close = build_run(tmp_path / "close", codecs={"codec-a": 0.0, "codec-b": 0.005}, per_lang=12)
    for run in (clear, close):
        assert cli("report", str(run), "--out", str(tmp_path / f"rep-{run.name}"), "--no-plots", "--examples", "0") == 0
    md = (tmp_path / "rep-clear" / "leaderboard.md").read_text(encoding="utf-8")
    assert re.search(r"- pesq_wb: codec-b better than codec-a \(\+0\.\d+ \\?\[\+0\.\d+, \+0\.\d+\\?\], p &lt; 0\.001; "
                     r"n = 12 paired utterances\)", md)
    assert "| codec-b |" in md and "**" in md.split("| codec-b |")[1].splitlines()[0]
    page = (tmp_path / "rep-clear" / "index.html").read_text(encoding="utf-8")
    assert 'class="num best" title="pesq_wb: codec-b better than codec-a' in page
    md = (tmp_path / "rep-close" / "leaderboard.md").read_text(encoding="utf-8")
    assert "no significant difference from codec-a" in md or "no significant difference from codec-b" in md
    table = md.split("## Language: en", 1)[1].split("Leader against runner-up", 1)[0]
    assert "**" not in table.split("| codec-a |", 1)[1]  # nothing bold without significance
