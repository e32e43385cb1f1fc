"""codecbench report: files written, names escaped, reasons instead of numbers, and the page loads in
headless chromium without console errors, with one row per codec."""

from __future__ import annotations

import re

import pytest
from report_fixture import build_run, cli, headless

EVIL = "<script>alert(1)</script>"
CODECS = {"codec-a": 0.0, EVIL: 0.5, "opus-6kbps": -0.5}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("rep")
    run = build_run(d / "run", codecs=CODECS, utt_names={"en_00": "<script>utt</script>"},
                    failed={("codec-a", "wer"): "no model <b>here</b>", ("opus-6kbps", "wer"): "unreliable: wrong script",
                            ("codec-a", "stoi"): "not_applicable: does not apply"},
                    unavailable={"visqol": "visqol-python is not installed"})
    out = d / "report"
    assert cli("report", str(run), "--out", str(out)) == 0
    return out


def test_files_written(report):
    for name in ("index.html", "leaderboard.md", "leaderboard.tex"):
        assert (report / name).stat().st_size > 0
    plots = {p.name for p in (report / "plots").iterdir()}
    for stem in ("rate_quality_pesq_wb", "heatmap_stoi", "codebook_usage"):
        assert {f"{stem}.png", f"{stem}.svg"} <= plots
    assert not any("bitrate" in p for p in plots)  # only quality metrics are plotted by default
    assert (report / "plots" / "codebook_usage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_names_escaped_and_reasons_shown(report):
    page = (report / "index.html").read_text(encoding="utf-8")
    assert len(re.findall(r"<script>", page)) == 2  # the error hook and the sorting script only
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script&gt;utt&lt;/script&gt;" in page
    notes = dict(re.findall(r'<li id="note-(\d+)" value="\d+"><b>[a-z/]+</b>: (.*?)</li>', page))
    assert sorted(notes.values()) == sorted(["no model &lt;b&gt;here&lt;/b&gt;", "wrong script",
                                             "visqol-python is not installed"])  # each reason once
    k = next(k for k, v in notes.items() if v == "wrong script")
    assert f'class="unrel" data-sort="" title="wrong script">unreliable<sup><a href="#note-{k}">' in page  # no number
    assert "Not computed: visqol (unavailable" in page  # an all-unavailable metric has no column
    assert 'class="na"' in page  # n/a is styled apart from failures
    md = (report / "leaderboard.md").read_text(encoding="utf-8")
    assert "no model &lt;b&gt;here&lt;/b&gt;" in md and EVIL not in md and md.count("wrong script") == 1
    tex = (report / "leaderboard.tex").read_text(encoding="utf-8")
    assert r"\textless{}script\textgreater{}" in tex and "<script>" not in tex


def test_latex_table_for_a_paper(report):
    tex = (report / "leaderboard.tex").read_text(encoding="utf-8")
    assert tex.count(r"\begin{tabular}") == 1 and r"\toprule" in tex and r"\bottomrule" in tex
    assert r"$\pm$" in tex and "[" not in tex.split(r"\toprule")[1].split(r"\bottomrule")[0]
    body = tex.split(r"\bottomrule")[0]
    assert "wrong script" not in body and "no model" not in body  # reasons are footnotes, not cells
    assert r"--\textsuperscript{a}" in body and r"\textsuperscript{a}failed: no model" in tex


def test_several_runs_label_codecs_by_run(tmp_path):
    a = build_run(tmp_path / "ra", codecs={"ours": 0.0}, per_lang=3)
    b = build_run(tmp_path / "rb", codecs={"ours": 0.3, "opus-6kbps": 0.0}, per_lang=3)
    assert cli("report", str(a), str(b), "--out", str(tmp_path / "rep"), "--examples", "0", "--no-plots") == 0
    md = (tmp_path / "rep" / "leaderboard.md").read_text(encoding="utf-8")
    assert "| ours (ra) |" in md and "| ours (rb) |" in md and "| opus-6kbps |" in md


def test_missing_run_is_an_error(tmp_path):
    assert cli("report", str(tmp_path / "nope"), "--out", str(tmp_path / "rep")) == 2


def test_page_loads_in_headless_chromium(report, tmp_path):
    url = (report / "index.html").as_uri()
    res = headless(tmp_path, "--dump-dom", url)
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert 'data-ready="1"' in body, "the page's script did not run to its end"
    assert 'data-errors="0"' in body, re.search(r'<pre id="js-errors"[^>]*>(.*?)</pre>', dom, re.S).group(1)
    console = [ln for ln in res.stderr.splitlines() if ":CONSOLE" in ln]
    assert not console, console
    for lang in ("en", "hi", "all"):
        table = re.search(rf'<table class="lb headline" data-lang="{lang}"[^>]*>(.*?)</table>', dom, re.S)
        assert table, lang
        rows = re.findall(r'<tr class="codec-row" data-codec="([^"]*)"', table.group(1))
        assert len(rows) == len(CODECS) and len(set(rows)) == len(CODECS)
        assert 'data-rows="3"' in table.group(0)
    shot = tmp_path / "shot.png"
    res = headless(tmp_path, "--window-size=1300,2000", f"--screenshot={shot}", url)
    assert shot.exists() and shot.stat().st_size > 10_000, res.stderr[-2000:]


def test_commands_registered_in_cli(capsys):
    from codecbench.cli import main

    for argv in (["--help"], ["report", "--help"], ["compare", "--help"], ["mushra", "--help"],
                 ["mushra-analyze", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0, argv
    assert "mushra-analyze" in capsys.readouterr().out


def test_embedded_audio_decodes(report, tmp_path):
    import base64

    from codecbench import audio

    page = (report / "index.html").read_text(encoding="utf-8")
    uris = re.findall(r'src="data:audio/wav;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(uris) >= 2 * 2 * (1 + len(CODECS)) - 2  # 2 examples x 2 languages x (reference + codecs), roughly
    wav = tmp_path / "x.wav"
    wav.write_bytes(base64.b64decode(uris[0]))
    wave, sr = audio.load(wav)
    assert sr == 16000 and len(wave) == 16000


def test_run_without_summary_is_summarised_from_rows(tmp_path):
    run = build_run(tmp_path / "run", per_lang=3)
    (run / "summary.csv").unlink()
    assert cli("report", str(run), "--out", str(tmp_path / "rep"), "--examples", "0", "--no-plots") == 0
    assert not (run / "summary.csv").exists()  # the run folder is left as it was
    assert "| codec-a |" in (tmp_path / "rep" / "leaderboard.md").read_text(encoding="utf-8")


def test_header_click_sorts_rows_in_chromium(report, tmp_path):
    page = (report / "index.html").read_text(encoding="utf-8")
    probe = """<script>
    (function () {
      var t = document.querySelector('table.lb[data-lang="all"]');
      var th = t.tHead.rows[0].cells[4];  // pesq_wb
      function order() { return Array.prototype.map.call(t.tBodies[0].rows, function (r) { return r.cells[0].textContent; }).join("|"); }
      th.click(); document.body.setAttribute("data-asc", order());
      th.click(); document.body.setAttribute("data-desc", order());
    })();
    </script></body>"""
    probe_page = tmp_path / "probe.html"
    probe_page.write_text(page.replace("</body>", probe), encoding="utf-8")
    res = headless(tmp_path, "--dump-dom", probe_page.as_uri())
    body = re.search(r"<body([^>]*)>", res.stdout).group(1)
    assert 'data-errors="0"' in body
    asc = re.search(r'data-asc="([^"]*)"', body).group(1).split("|")
    desc = re.search(r'data-desc="([^"]*)"', body).group(1).split("|")
    expected = ["opus-6kbps", "codec-a", "&lt;script&gt;alert(1)&lt;/script&gt;"]  # pesq_wb ascending
    assert asc == expected and desc == expected[::-1]


def test_different_utterance_sets_refused_unless_asked(tmp_path, capsys):
    a = build_run(tmp_path / "ra", codecs={"ours": 0.0}, per_lang=6)
    b = build_run(tmp_path / "rb", codecs={"opus-6kbps": 0.0}, per_lang=4)
    out = tmp_path / "rep"
    assert cli("report", str(a), str(b), "--out", str(out), "--examples", "0") == 2
    assert "different utterance sets" in capsys.readouterr().err and not (out / "index.html").exists()
    assert cli("report", str(a), str(b), "--out", str(out), "--examples", "0", "--allow-mixed", "--no-plots") == 0
    page = (out / "index.html").read_text(encoding="utf-8")
    assert 'id="mixed">⚠ Mixed utterance sets' in page and 'class="num best"' not in page
    assert "Unique utterances per language: en: 6, hi: 6." in page  # 6 unique, not 6 + 4
    assert "Warning:** Mixed utterance sets" in (out / "leaderboard.md").read_text(encoding="utf-8")
    assert cli("report", str(a), str(b), "--out", str(out), "--examples", "0", "--common-only", "--no-plots") == 0
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "Mixed" not in page and "Unique utterances per language: en: 4, hi: 4." in page
    rows = re.findall(r'<tr class="codec-row" data-codec="ours">(.*?)</tr>', page)
    assert rows and all('<td class="num" data-sort="8">8</td>' in r for r in rows if 'data-sort="8"' in r)


def test_metrics_langs_and_labels(tmp_path):
    a = build_run(tmp_path / "ra", codecs={"ours": 0.0}, per_lang=3, langs=("en", "hi", "ta"))
    b = build_run(tmp_path / "rb", codecs={"ours": 0.3}, per_lang=3, langs=("en", "hi", "ta"))
    out = tmp_path / "rep"
    assert cli("report", str(a), str(b), "--out", str(out), "--examples", "0", "--metrics", "pesq_wb,stoi",
               "--langs", "hi,ta", "--label", "ra=baseline", "--label", f"{b}=new", "--no-plots") == 0
    md = (out / "leaderboard.md").read_text(encoding="utf-8")
    assert "| ours (baseline) |" in md and "| ours (new) |" in md
    assert "## Language: en" not in md and "## Language: hi" in md and "## Language: ta" in md
    assert "wer ↓" not in md and "bitrate" not in md.split("| codec |")[1].split("\n")[0]
    assert "| ours (baseline) | 6.00 | 6 |" in md  # the pooled column pools hi and ta only: n = 6
    assert cli("report", str(a), "--out", str(out), "--langs", "xx") == 2
    assert cli("report", str(a), "--out", str(out), "--metrics", "nosuch") == 2


def test_operating_families_join_a_codecs_points():
    from codecbench.report.plots import operating_family

    assert {operating_family(c) for c in ("opus-6kbps", "opus-12kbps", "opus-24kbps")} == {"opus"}
    assert operating_family("opus-6kbps-audio") == "opus-audio"
    assert {operating_family(f"ours-rvq-{q}q") for q in (1, 4, 16)} == {"ours-rvq"}
    assert operating_family("encodec-24k-1.5kbps") == "encodec-24k" != operating_family("encodec-48k-3kbps")
    assert operating_family("dac-44k-4cb") == "dac-44k" and operating_family("mimi-8cb") == "mimi"
    assert operating_family("ours-rvq-4q (run-b)") == "ours-rvq (run-b)"
