"""The self-contained listening page written by ``codecbench mushra ... --html`` (``DIR/index.html``).

One HTML file with inline CSS and JavaScript, no server, no CDN: open it from the file system
(``file://``) next to its ``stimuli/`` folder. The stimuli stay WAV files beside the page and play
through ``<audio>`` elements (a file:// page may play media files; it may not fetch them, so the
Web Audio API is not used). It runs the MUSHRA procedure of ITU-R BS.1534-3:

* instructions and a listener id, then a **training page** (conditions named, fixed order, ratings
  recorded under ``trial_id`` "training" and never scored);
* one page per item, **items in a random order per listener** and **conditions in a random order per
  page**, named A, B, C...: the hidden reference, the 3.5 kHz and 7 kHz low-pass anchors and one
  reconstruction per codec, each with a 0-100 slider over the five quality bands; the open reference
  is played by its own button. Switching conditions keeps the playback position; looping is on;
* "Next" stays off until every condition of the page has been played and its slider set (an
  unrated condition is never written as a 0);
* the ratings are kept in the browser's localStorage after every change (a reload resumes the
  session) and saved as a CSV download at the end (format ``codecbench-mushra-1``, read by
  ``codecbench mushra-analyze``): one row per page and condition with the listener, the session,
  the page's place in the listener's order, the condition's position on the page, the score, the
  time spent on the page and the number of plays.

The CSV carries the test id of ``mushra_items.json`` (``session_test_id``), so ``mushra-analyze --items``
refuses ratings made on another stimulus set.
"""

from __future__ import annotations

import hashlib
import html
import json
from pathlib import Path
from typing import Any

from codecbench.report.mushra_items import ANCHORS, REFERENCE, Item

PAGE_FORMAT = "codecbench-mushra-1"  # the "format" column of the page's CSV
CSV_COLUMNS = ("format", "session_test_id", "session", "listener", "trial_id", "page", "rating_stimulus",
               "position", "rating_score", "rating_time", "plays", "rating_comment")
TRAINING_LABELS = {REFERENCE: "Reference", "anchor35": "Anchor: 3.5 kHz low-pass", "anchor70": "Anchor: 7 kHz low-pass"}


def test_id(run_name: str, items: list[Item], training: Item, sample_rate: int, seed: int) -> str:
    """A short id of the stimulus set: the run, the items' utterances and stimuli, the rate and seed."""
    key = json.dumps([run_name, sample_rate, seed, [[i.id, i.utt_id, sorted(i.files)] for i in [*items, training]]])
    return "codecbench-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def page_config(items: list[Item], training: Item, tid: str, codecs: list[str], keys: dict[str, str]) -> dict[str, Any]:
    """What the page's script needs: file paths relative to the page, the training labels."""
    def conditions(item: Item, labels: bool) -> list[dict[str, str]]:
        order = [REFERENCE, *ANCHORS, *(keys[c] for c in codecs)]
        names = {**TRAINING_LABELS, **{keys[c]: c for c in codecs}}
        return [{"key": k, "file": item.files[k], **({"label": names[k]} if labels else {})} for k in order]

    return {"format": PAGE_FORMAT, "test_id": tid, "columns": list(CSV_COLUMNS),
            "training": {"id": training.id, "reference": training.files[REFERENCE],
                         "conditions": conditions(training, True)},
            "trials": [{"id": it.id, "reference": it.files[REFERENCE], "conditions": conditions(it, False)}
                       for it in items]}


def write_page(out: Path, items: list[Item], training: Item, tid: str, codecs: list[str],
               keys: dict[str, str]) -> Path:
    here = Path(__file__).parent
    css = (here / "mushra_page.css").read_text(encoding="utf-8")
    js = (here / "mushra_page.js").read_text(encoding="utf-8")
    cfg = json.dumps(page_config(items, training, tid, codecs, keys), ensure_ascii=False).replace("</", "<\\/")
    n = len(items)
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Listening test (MUSHRA)</title>
<style>{css}</style>
</head>
<body>
<main id="app" data-test-id="{html.escape(tid)}">
<noscript>This listening test needs JavaScript.</noscript>
</main>
<template id="welcome">
<h1>Listening test</h1>
<p>You will hear short speech recordings: an open <b>reference</b> and, on each page, several versions of
it (<b>conditions</b> A, B, C, ...). Rate the <b>basic audio quality</b> of every condition compared
with the reference, on a scale from 0 (bad) to 100 (excellent). Any difference from the reference
(bandwidth, noise, distortion, artefacts, timbre) is an impairment.</p>
<ul>
<li>One of the conditions is the reference itself, hidden: rate it 100 when you find it.</li>
<li>Use headphones in a quiet room; set a comfortable volume on the training page and keep it.</li>
<li>Play a condition with its button (or keys 1-9), the reference with <b>Reference</b> (key R); switching
while playing continues at the same position. Space stops.</li>
<li>Every condition must be played and rated before you can go on. The test has a training page and
{n} test page{'s' if n != 1 else ''}.</li>
<li>At the end, download your ratings (a CSV file) and send it to the organiser.</li>
</ul>
<div class="resume" hidden>
<p class="resume-text"></p>
<button type="button" class="resume-go">Continue this session</button>
<button type="button" class="resume-csv">Download its ratings</button>
</div>
<p><label>Listener id: <input type="text" class="listener" autocomplete="off" maxlength="64"></label>
<button type="button" class="start">Start a new session</button></p>
<p class="why"></p>
</template>
<template id="finish">
<h1>Thank you</h1>
<p>Your ratings are complete. Download them and send the file to the organiser:</p>
<p><button type="button" class="download">Download ratings (CSV)</button> <span class="saved"></span></p>
<details><summary>The ratings as text (to copy instead)</summary><textarea class="csv" readonly rows="12"></textarea></details>
</template>
<script id="mushra-config" type="application/json">{cfg}</script>
<script>{js}</script>
</body>
</html>
"""
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
