"""The listening page of ``codecbench mushra --html``, used as a listener would in headless chromium
(DevTools protocol over a pipe, tests/cdp.py): it loads from file://, every stimulus is an <audio>
element that decodes to the stimulus' length and plays, the pages go in the MUSHRA order (training,
then the items shuffled, conditions shuffled and unnamed), "Next" waits for every condition to be
played and rated, a reload resumes the session, and the downloaded CSV is what ``mushra-analyze``
scores. Screenshots of the training and a test page are kept under the test's tmp folder."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest
from cdp import Browser
from report_fixture import build_run, cli

from codecbench import audio
from codecbench.report.mushra_page import CSV_COLUMNS, PAGE_FORMAT

SCORES = {"reference": 100, "anchor35": 20, "anchor70": 40, "codec-a": 70, "opus-6kbps": 55}
STEP = "document.body.getAttribute('data-step')"


@pytest.fixture(scope="module")
def stimuli(tmp_path_factory):
    d = tmp_path_factory.mktemp("page")
    run = build_run(d / "run", codecs={"codec-a": 0.0, "opus-6kbps": 0.3}, per_lang=3, save_audio=3)
    out = d / "stim"
    assert cli("mushra", str(run), "--codecs", "codec-a,opus-6kbps", "--items", "2", "--out", str(out), "--html") == 0
    return out, json.loads((out / "mushra_items.json").read_text(encoding="utf-8"))


def _rate(b: Browser, scores: dict[str, int]) -> None:
    b.eval(f"""document.querySelectorAll('.cond').forEach(c => {{
        const s = c.querySelector('input[type=range]');
        s.value = {json.dumps(scores)}[c.dataset.key];
        s.dispatchEvent(new Event('input', {{bubbles: true}}));
    }})""")


def _check_shot(path) -> None:
    """A real picture of the page: the window's width, and not one flat colour."""
    from PIL import Image

    with Image.open(path) as im:
        assert im.size[0] == 1100 and im.size[1] >= 500
        assert len(im.convert("L").getcolors(1 << 16) or []) > 20


def _play_all(b: Browser) -> None:
    for i in range(b.eval("document.querySelectorAll('.cond').length")):
        b.eval(f"document.querySelectorAll('.cond button.play')[{i}].click()")
        b.wait_for(f"!document.querySelectorAll('.cond')[{i}].classList.contains('unheard')")


def test_listening_session_exports_what_mushra_analyze_scores(stimuli, tmp_path):
    out, meta = stimuli
    page = out / "index.html"
    html = page.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html  # no CDN, no server
    lengths = {rel: len(audio.load(out / rel)[0]) / meta["sample_rate"]
               for it in [*meta["items"], meta["training"]] for rel in it["files"].values()}
    with Browser(tmp_path, width=1100, height=760) as b:
        b.allow_downloads(tmp_path / "downloads")
        b.open(page.as_uri())
        assert b.eval(STEP) == "-1"
        b.eval("document.querySelector('.start').click()")
        assert b.eval("document.querySelector('.why').textContent") == "Type a listener id first."
        b.eval("document.querySelector('.listener').value = 'L1'; document.querySelector('.start').click()")

        # training: every condition named, in order; the media decode to the stimuli's length
        b.wait_for(f"{STEP} === '0'")
        b.wait_for("[...document.querySelectorAll('audio')].every(a => a.readyState >= 4)")
        media = b.eval("[...document.querySelectorAll('audio')].map(a => [a.getAttribute('src'), a.duration])")
        assert len(media) == 6  # the open reference and five conditions
        for src, duration in media:
            assert duration == pytest.approx(lengths[src], abs=1e-3), src
        labels = b.eval("[...document.querySelectorAll('.cond .label')].map(x => x.textContent)")
        assert labels == ["Reference", "Anchor: 3.5 kHz low-pass", "Anchor: 7 kHz low-pass", "codec-a", "opus-6kbps"]
        assert b.eval("document.querySelector('.next').disabled")  # nothing played yet
        b.eval("document.querySelector('.ref').click()")
        b.wait_for("!document.querySelector('audio[data-key=reference]').paused")
        b.wait_for("document.querySelector('audio[data-key=reference]').currentTime > 0.05")  # it really plays
        _play_all(b)
        _check_shot(b.screenshot(tmp_path / "mushra-training.png"))
        b.eval("document.querySelector('.next').click()")

        # test pages: items shuffled, conditions shuffled and unnamed, Next only when all played and rated
        shown = {}
        for step in (1, 2):
            b.wait_for(f"{STEP} === '{step}'")
            trial = b.eval("document.querySelector('section.mushra').dataset.trial")
            shown[trial] = b.eval("[...document.querySelectorAll('.cond')].map(c => c.dataset.key)")
            assert sorted(shown[trial]) == sorted(SCORES)
            assert b.eval("[...document.querySelectorAll('.cond .label')].every(x => x.textContent === '')")
            assert b.eval("document.querySelector('.cond button.play').textContent").endswith("A")
            _rate(b, SCORES)
            assert b.eval("document.querySelector('.next').disabled")  # rated, not yet played
            assert b.eval("document.querySelector('.nav .why').textContent").startswith("To go on: play A")
            _play_all(b)
            assert not b.eval("document.querySelector('.next').disabled")
            if step == 1:
                assert b.eval("document.documentElement.scrollWidth") <= 1100  # no sideways scrolling
                _check_shot(b.screenshot(tmp_path / "mushra-page.png"))
                b.open(page.as_uri())  # a reload keeps the session
                assert b.eval("document.querySelector('.resume').hidden") is False
                assert "unfinished session of L1" in b.eval("document.querySelector('.resume-text').textContent")
                b.eval("document.querySelector('.resume-go').click()")
                b.wait_for(f"{STEP} === '1'")
                assert b.eval("document.querySelector('section.mushra').dataset.trial") == trial
                assert b.eval("[...document.querySelectorAll('.cond .value')].map(v => v.textContent)") == \
                    [str(SCORES[k]) for k in shown[trial]]
                _play_all(b)
            b.eval("document.querySelector('.next').click()")
        assert sorted(shown) == sorted(it["id"] for it in meta["items"])

        b.wait_for(f"{STEP} === '3'")
        b.eval("document.querySelector('.download').click()")
        deadline = time.monotonic() + 30
        while not (done := [p for p in (tmp_path / "downloads").glob("*.csv")]):
            assert time.monotonic() < deadline, "no download"
            time.sleep(0.1)
        assert b.eval("document.body.getAttribute('data-audio-error')") is None

    csv = pd.read_csv(done[0], dtype={"trial_id": str})
    assert list(csv.columns) == list(CSV_COLUMNS) and set(csv["format"]) == {PAGE_FORMAT}
    assert set(csv["session_test_id"]) == {meta["test_id"]} and set(csv["listener"]) == {"L1"}
    assert len(csv) == 2 * len(SCORES)  # the unrated training page writes no row
    for trial, keys in shown.items():
        sel = csv[csv["trial_id"] == trial].sort_values("position")
        assert list(sel["rating_stimulus"]) == keys and list(sel["position"]) == [1, 2, 3, 4, 5]
        assert (sel["plays"] >= 1).all() and (sel["rating_time"] > 0).all()
    assert cli("mushra-analyze", str(done[0].parent), "--items", str(out / "mushra_items.json"),
               "--out", str(tmp_path / "a")) == 0
    scores = pd.read_csv(tmp_path / "a" / "mushra_scores.csv")
    pooled = scores[scores["lang"] == "all"].set_index("condition")
    assert pooled["mean"].to_dict() == {k: float(v) for k, v in SCORES.items()}
    assert set(pooled["n"]) == {2} and set(pooled["n_listeners"]) == {1}


def _page_csv(path, listener: str, session: str, test_id: str, ref: int = 100) -> None:
    rows = [{"format": PAGE_FORMAT, "session_test_id": test_id, "session": session, "listener": listener,
             "trial_id": trial, "page": p, "rating_stimulus": stim, "position": i + 1,
             "rating_score": ref if stim == "reference" else score, "rating_time": 900, "plays": 1, "rating_comment": ""}
            for p, trial in enumerate(["training", "en_00", "hi_01"])
            for i, (stim, score) in enumerate(SCORES.items())]
    pd.DataFrame(rows, columns=list(CSV_COLUMNS)).to_csv(path, index=False)


def _items(tmp_path, test_id: str = "codecbench-x"):
    items = {"test_id": test_id, "items": [{"id": t, "lang": t[:2], "stimuli": {k: k for k in SCORES}}
                                          for t in ("en_00", "hi_01")]}
    path = tmp_path / "mushra_items.json"
    path.write_text(json.dumps(items))
    return str(path)


def test_page_csvs_and_webmushra_csv_read_together(tmp_path):
    folder = tmp_path / "ratings"
    folder.mkdir()
    _page_csv(folder / "a.csv", "L1", "s1", "codecbench-x")
    _page_csv(folder / "b.csv", "L2", "s2", "codecbench-x", ref=50)  # post-screened out
    web = pd.DataFrame([{"session_test_id": "codecbench_mushra", "session_uuid": "u3", "name": "L3", "trial_id": t,
                         "rating_stimulus": s, "rating_score": v - 10, "rating_time": 1, "rating_comment": ""}
                        for t in ("en_00", "hi_01") for s, v in SCORES.items()])
    web.to_csv(tmp_path / "mushra.csv", index=False)
    assert cli("mushra-analyze", str(folder), str(tmp_path / "mushra.csv"), "--items", _items(tmp_path),
               "--out", str(tmp_path / "a")) == 0
    scores = pd.read_csv(tmp_path / "a" / "mushra_scores.csv")
    codec = scores[(scores["condition"] == "codec-a") & (scores["lang"] == "all")].iloc[0]
    assert codec["n_listeners"] == 2 and codec["n"] == 4 and codec["mean"] == pytest.approx(65.0)  # L1 70, L3 60
    assert "L2 (2/2 items)" in (tmp_path / "a" / "mushra_scores.md").read_text(encoding="utf-8")


def test_page_csv_errors_are_one_line(tmp_path, capsys):
    _page_csv(tmp_path / "a.csv", "L1", "s1", "codecbench-x")
    _page_csv(tmp_path / "b.csv", "L1", "s2", "codecbench-x")
    items = _items(tmp_path)
    assert cli("mushra-analyze", str(tmp_path / "a.csv"), str(tmp_path / "a.csv"), "--items", items) == 2
    assert "listener L1 rated reference of page training more than once (in a.csv)" in capsys.readouterr().err
    assert cli("mushra-analyze", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--items", items) == 2
    assert "(in a.csv, b.csv)" in capsys.readouterr().err  # two sessions under one listener id
    assert cli("mushra-analyze", str(tmp_path / "a.csv"), "--items", _items(tmp_path, "codecbench-other")) == 2
    assert "a.csv rated another stimulus set (test id codecbench-x; --items says codecbench-other)" \
        in capsys.readouterr().err
    df = pd.read_csv(tmp_path / "a.csv").assign(format="codecbench-mushra-9")
    df.to_csv(tmp_path / "c.csv", index=False)
    assert cli("mushra-analyze", str(tmp_path / "c.csv")) == 2
    assert "unknown ratings format" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli("mushra-analyze", str(tmp_path / "empty")) == 2
    assert "no ratings (*.csv) in the folder" in capsys.readouterr().err
