"""Look at the report as a reader would: headless chromium at 1400 px wide.

The headline tables fit the window without horizontal scrolling, Devanagari and Tamil transcripts are
drawn with real glyphs (fonts-noto-core, installed by scripts/install-system-deps WITH_BROWSER=1), and a
screenshot is written (kept under the test's tmp folder for a person to look at)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from report_fixture import build_run, cli, headless

WIDTH = 1400
CODECS = {"encodec-24k-1.5kbps": -0.4, "encodec-24k-6kbps": 0.0, "encodec-24k-24kbps": 0.3, "opus-6kbps": -0.5,
          "opus-12kbps": 0.1, "opus-24kbps": 0.4, "ours-rvq-4q": -0.2, "ours-rvq-16q": 0.5}
TEXTS = {"hi": "आज मौसम बहुत अच्छा है और हम बाहर खेल रहे हैं।", "ta": "இன்று வானிலை மிகவும் நன்றாக இருக்கிறது."}
PROBE = """<script>
(function () {
  var right = 0;
  document.querySelectorAll("table.headline").forEach(function (t) {
    right = Math.max(right, t.getBoundingClientRect().right);
  });
  var c = document.createElement("canvas").getContext("2d");
  function distinct(chars) {
    c.font = "20px sans-serif";
    var w = chars.map(function (ch) { return c.measureText(ch).width.toFixed(2); });
    return String(new Set(w).size);
  }
  var b = document.body;
  b.setAttribute("data-headline-right", String(Math.ceil(right)));
  b.setAttribute("data-scroll-width", String(document.documentElement.scrollWidth));
  b.setAttribute("data-deva", distinct(["क", "ख", "ि", "ं", "ड़"]));
  b.setAttribute("data-taml", distinct(["க", "ங", "ி", "ொ", "ஷ"]));
})();
</script></body>"""


def _fonts_for(lang: str) -> bool:
    if shutil.which("fc-list") is None:
        return False
    out = subprocess.run(["fc-list", f":lang={lang}", "family"], capture_output=True, text=True).stdout
    return bool(out.strip())


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    d = tmp_path_factory.mktemp("screens")
    run = build_run(d / "run", codecs=CODECS, langs=("en", "hi", "ta"), per_lang=6,
                    failed={("opus-6kbps", "wer"): "unreliable: Whisper writes Hindi in Perso-Arabic script"},
                    unavailable={"spk_sim_ecapa": "ECAPA-TDNN weights are not available: " + "x" * 200})
    dataset = json.loads((run / "dataset.json").read_text(encoding="utf-8"))
    for u in dataset:
        u["text"] = TEXTS.get(u["lang"], u["text"])
    (run / "dataset.json").write_text(json.dumps(dataset, ensure_ascii=False), encoding="utf-8")
    out = d / "report"
    assert cli("report", str(run), "--out", str(out), "--examples", "1") == 0
    return out / "index.html"


def test_headline_fits_1400px_and_indic_scripts_render(page, tmp_path):
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE), encoding="utf-8")
    res = headless(tmp_path, f"--window-size={WIDTH},2000", "--dump-dom", probe.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    body = dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', re.search(r"<body([^>]*)>", res.stdout).group(1)))
    assert body.get("data-errors") == "0"
    assert 0 < int(body["data-headline-right"]) <= WIDTH, body
    assert int(body["data-scroll-width"]) <= WIDTH, "the page scrolls sideways at 1400 px"
    missing = [lang for lang in ("hi", "ta") if not _fonts_for(lang)]
    if missing:
        pytest.skip(f"no font for {', '.join(missing)}: run WITH_BROWSER=1 scripts/install-system-deps (fonts-noto-core)")
    assert int(body["data-deva"]) >= 3 and int(body["data-taml"]) >= 3, "Indic text drawn as missing-glyph boxes"


def test_screenshot(page, tmp_path):
    shot = tmp_path / "report-1400.png"
    res = headless(tmp_path, f"--window-size={WIDTH},2400", f"--screenshot={shot}", page.as_uri())
    assert shot.exists() and shot.stat().st_size > 20_000, res.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (WIDTH, 2400)
