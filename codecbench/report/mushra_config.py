"""The webMUSHRA configuration written by ``codecbench mushra`` (see codecbench/report/mushra.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codecbench.report.mushra_items import REFERENCE, TRAINING, Item


def write_config(items: list[Item], out: Path, codecs: list[str], keys: dict[str, str], resource_dir: str,
                 training: Item | None = None) -> Path:
    """A webMUSHRA YAML config: a welcome page, a training page (conditions named, in order; its ratings
    are not scored), one randomised MUSHRA page per item, a finish page whose questionnaire asks for a
    listener id (the ``name`` column of mushra.csv)."""
    import yaml

    prefix = resource_dir.rstrip("/")
    pages: list[Any] = [{
        "type": "generic", "id": "welcome", "name": "Welcome",
        "content": "Rate the basic audio quality of each signal against the reference (0-100). "
                   "Any difference from the reference is an impairment. One of the signals is the reference itself.",
    }]
    if training is not None:
        pages.append({
            "type": "mushra", "id": TRAINING, "name": "Training",
            "content": "Training (not scored): listen to the reference and to every condition, named here, to learn "
                       "the range of quality you will hear. The test pages that follow hide the names and the order.",
            "showWaveform": False, "enableLooping": True, "randomize": False, "showConditionNames": True,
            "reference": f"{prefix}/{training.files[REFERENCE]}", "createAnchor35": False, "createAnchor70": False,
            "stimuli": {k: f"{prefix}/{training.files[k]}" for k in training.files if k != REFERENCE},
        })
    trials = []
    for item in items:
        trials.append({
            "type": "mushra", "id": item.id, "name": f"Item {item.id}",
            "content": "Rate every condition against the reference.",
            "showWaveform": False, "enableLooping": True, "randomize": True, "showConditionNames": False,
            "reference": f"{prefix}/{item.files[REFERENCE]}",
            "createAnchor35": False, "createAnchor70": False,
            "stimuli": {k: f"{prefix}/{item.files[k]}" for k in item.files if k != REFERENCE},
        })
    pages.append(["random", *trials])
    pages.append({
        "type": "finish", "name": "Thank you", "content": "Thank you for taking part.",
        "showResults": False, "writeResults": True,
        "questionnaire": [{"type": "text", "label": "Listener ID", "name": "name"}],
    })
    config = {"testname": "codecbench MUSHRA", "testId": "codecbench_mushra", "bufferSize": 2048,
              "stopOnErrors": True, "showButtonPreviousPage": True, "remoteService": "service/write.php",
              "pages": pages}
    path = out / "mushra.yaml"
    header = (f"# webMUSHRA config written by codecbench: copy {out.name}/stimuli to webMUSHRA/{prefix}/stimuli,\n"
              "# this file to webMUSHRA/configs/, and open index.html?config=mushra.yaml\n"
              f"# conditions: {', '.join(f'{keys[c]}={c}' for c in codecs)}; anchors: anchor35 (3.5 kHz), "
              "anchor70 (7 kHz) low-pass; hidden reference: 'reference'\n")
    path.write_text(header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path
