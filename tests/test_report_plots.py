"""The report's plots as a reader of a paper would check them: rate axes ticked at the operating
points, no pooled panel / column / bar repeating a single language, a compact codebook plot (one
line per codec over its levels), codec families joined across runs; and the report page in headless
chromium with its plots at their drawn size (screenshot kept under the test's tmp folder)."""

from __future__ import annotations

import pytest
from report_fixture import build_run, cli

from codecbench.report import codebook_plot, plots
from codecbench.report.runs import ALL_LANGS, Run
from codecbench.report.tables import build_board

HINDI = {"opus-6kbps": -0.5, "opus-12kbps": 0.1, "opus-24kbps": 0.4, "ours-rvq": -0.3, "ours-fsq": -0.2,
         "ours-vae": -0.1}
HINDI_RATES = {"opus-6kbps": 5.6, "opus-12kbps": 11.4, "opus-24kbps": 22.9, "ours-rvq": 6.4, "ours-fsq": 5.98,
               "ours-vae": None}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("plots")
    one = build_run(d / "hi-run", codecs=HINDI, langs=("hi",), per_lang=6, bitrates=HINDI_RATES,
                    levels={"ours-rvq": 8, "ours-fsq": 1})
    a = build_run(d / "run-a", codecs={"opus-6kbps": -0.5, "opus-12kbps": 0.1, "ours-rvq": -0.3}, langs=("hi", "en"),
                  per_lang=5, bitrates={"opus-6kbps": 5.6, "opus-12kbps": 11.4, "ours-rvq": 6.4})
    b = build_run(d / "run-b", codecs={"opus-6kbps": -0.4, "opus-24kbps": 0.4, "ours-rvq-4q": -0.6,
                                       "ours-rvq-16q": 0.5}, langs=("hi", "en"), per_lang=5, seed=1,
                  bitrates={"opus-6kbps": 5.6, "opus-24kbps": 22.9, "ours-rvq-4q": 3.2, "ours-rvq-16q": 12.8},
                  levels={"ours-rvq-4q": 4, "ours-rvq-16q": 16})
    return one, a, b


def _board(*dirs):
    return build_board([Run.open(d) for d in dirs])


@pytest.fixture
def figures(monkeypatch):
    """The matplotlib figures the plot functions save (kept open for inspection)."""
    saved = {}

    def keep(fig, out, stem, title, caption=""):
        fig.canvas.draw()  # lay it out as saving would
        saved[stem] = fig
        return plots.Plot(title, out / f"{stem}.png", out / f"{stem}.svg", caption)

    monkeypatch.setattr(plots, "_save", keep)
    monkeypatch.setattr(codebook_plot, "_save", keep)
    yield saved
    import matplotlib.pyplot as plt

    plt.close("all")


def _xlabels(ax) -> list[str]:
    fmt = ax.xaxis.get_major_formatter()
    return [fmt(v, i).strip() for i, v in enumerate(ax.xaxis.get_majorticklocs())]


def test_rate_axis_ticks_are_the_operating_points():
    plt = plots._pyplot()
    fig, (narrow, wide) = plt.subplots(1, 2, figsize=(7.2, 2.6))
    assert plots.rate_axis(narrow, [5.6, 5.98, 6.4, 5.6]) == [5.6, 5.98, 6.4]
    assert narrow.get_xscale() == "linear" and narrow.get_xlabel() == "kbps"
    assert list(narrow.xaxis.get_majorticklocs()) == [5.6, 5.98, 6.4] and _xlabels(narrow) == ["5.6", "5.98", "6.4"]
    rates = [1.5, 3.2, 5.6, 6.0, 6.4, 11.4, 12.8, 22.9, 24.0]
    labelled = plots.rate_axis(wide, rates)
    assert wide.get_xscale() == "log" and wide.get_xlabel() == "kbps (log scale)"
    assert list(wide.xaxis.get_majorticklocs()) == rates  # a tick (and grid line) at every point
    assert len(wide.xaxis.get_minorticklocs()) == 0  # no unlabelled 2, 3, 4, ... 20 log ticks
    assert {1.5, 3.2, 5.6, 11.4, 22.9} <= set(labelled) and len(labelled) >= 7  # crowded ones on a second row
    assert all(lab == "" or float(lab) in rates for lab in _xlabels(wide))
    plt.close(fig)


def test_single_language_has_no_pooled_panel_column_or_section(runs, figures, tmp_path):
    one, a, _ = runs
    board = _board(one)
    assert board.langs == ["hi", ALL_LANGS] and board.shown_langs() == ["hi"]
    assert _board(a).shown_langs() == ["en", "hi", ALL_LANGS]
    plots.rate_quality(board, "pesq_wb", tmp_path)
    axes = [ax for ax in figures["rate_quality_pesq_wb"].axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["hi"]
    assert _xlabels(axes[0]) == ["5.6", "5.98", "6.4", "11.4", "22.9"]  # 5.98 on the second row
    plots.heatmap(board, "stoi", tmp_path)
    heat = figures["heatmap_stoi"].axes[0]
    assert [t.get_text() for t in heat.get_xticklabels()] == ["hi"]
    assert cli("report", str(one), "--out", str(tmp_path / "rep"), "--examples", "0", "--no-plots") == 0
    for name in ("index.html", "leaderboard.md", "leaderboard.tex"):
        text = (tmp_path / "rep" / name).read_text(encoding="utf-8").lower()
        assert "all languages (pooled)" not in text and "hi" in text, name


def test_codec_families_join_across_runs(runs, figures, tmp_path):
    _, a, b = runs
    board = _board(a, b)
    fam = {label: f for label, (f, _) in plots.families(board).items()}
    # opus-6kbps is in both runs: each run's opus points make their own line (same colour)
    assert fam["opus-6kbps (run-a)"] == fam["opus-12kbps"] == "opus (run-a)"
    assert fam["opus-6kbps (run-b)"] == fam["opus-24kbps"] == "opus (run-b)"
    assert fam["ours-rvq"] == fam["ours-rvq-4q"] == fam["ours-rvq-16q"] == "ours-rvq"  # one line over both runs
    assert plots._color(board, "opus-12kbps") == plots._color(board, "opus-24kbps") != plots._color(board, "ours-rvq")
    plots.rate_quality(board, "pesq_wb", tmp_path)
    hi = next(ax for ax in figures["rate_quality_pesq_wb"].axes if ax.get_title() == "hi")
    lines = {c.get_label(): c.lines[0] for c in hi.containers}  # errorbar: (data line, caps, bars)
    assert sorted(lines["ours-rvq"].get_xdata()) == [3.2, 6.4, 12.8]
    assert sorted(lines["opus (run-a)"].get_xdata()) == [5.6, 11.4]
    assert sorted(lines["opus (run-b)"].get_xdata()) == [5.6, 22.9]
    assert lines["opus (run-a)"].get_linestyle() != lines["opus (run-b)"].get_linestyle()
    assert lines["opus (run-a)"].get_marker() != lines["opus (run-b)"].get_marker()


def test_codebook_plot_is_one_line_per_codec(runs, figures, tmp_path):
    one, a, b = runs
    plot = codebook_plot.codebook_usage(_board(one), [Run.open(one)], tmp_path)
    fig = figures["codebook_usage"]
    (ax,) = [x for x in fig.axes if x.get_visible()]
    lines = {line.get_label(): list(line.get_xdata()) for line in ax.get_lines()}
    assert lines["ours-rvq (8 × 1024)"] == [1, 2, 3, 4, 5, 6, 7, 8] and lines["ours-fsq (1 × 1024)"] == [1]
    assert len(lines) == 5 and "ours-vae" in plot.caption  # the continuous codec is named, not drawn
    assert all(0 <= y <= 1 for line in ax.get_lines() for y in line.get_ydata())
    assert fig.get_size_inches()[1] <= 3.0  # one compact panel, not a row per codebook level
    board = _board(a, b)
    codebook_plot.codebook_usage(board, board.runs, tmp_path)
    panels = [x.get_title() for x in figures["codebook_usage"].axes if x.get_visible()]
    assert panels == ["en", "hi", "all languages (pooled)"]


def test_pooled_bars_only_when_they_pool(tmp_path):
    import pandas as pd

    from codecbench.report.contrasts import _classes
    from codecbench.report.mushra_analysis import plotted_langs

    rows = [{"condition": c, "lang": lang, "n": 8} for c in ("reference", "codec-a") for lang in ("hi", ALL_LANGS)]
    assert plotted_langs(pd.DataFrame(rows)) == ["hi"]
    rows += [{"condition": c, "lang": "ta", "n": 4} for c in ("reference", "codec-a")]
    assert plotted_langs(pd.DataFrame(rows)) == ["hi", ALL_LANGS, "ta"]

    class One:
        codecs = ["x"]

        @staticmethod
        def cell(codec, lang, metric):
            return type("C", (), {"status": "ok"})()

    assert _classes(One, ["abx_error:voicing", "abx_error:all"], "en") == ["voicing"]
    assert _classes(One, ["abx_error:voicing", "abx_error:retroflex", "abx_error:all"], "en") == \
        ["retroflex", "voicing", "all"]


def test_report_page_screenshot_single_language(runs, tmp_path):
    from cdp import Browser

    one, _, _ = runs
    out = tmp_path / "report"
    assert cli("report", str(one), "--out", str(out), "--examples", "0") == 0
    with Browser(tmp_path, width=1400, height=1000) as b:
        b.open((out / "index.html").as_uri())
        assert b.eval("document.body.getAttribute('data-errors')") == "0"
        assert b.eval("document.querySelectorAll('section[id^=lang-]').length") == 1
        sizes = b.eval("[...document.querySelectorAll('figure img')].map(i => [i.width, i.naturalWidth])")
        assert len(sizes) == 3 + 3 + 1  # rate-quality and heatmap per headline metric, codebook
        assert all(w <= n // 2 for w, n in sizes)  # drawn at 100 dpi (the PNGs are 2×), never blown up
        assert b.eval("document.documentElement.scrollWidth") <= 1400
        shot = b.screenshot(tmp_path / "report-single-language.png")
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size[0] == 1400 and im.size[1] > 1200
