"""`codecbench models` and `codecbench models download` (offline: one clear error naming the model)."""

from __future__ import annotations

import json

from codecbench.cli import main
from codecbench.models import all_models, is_cached


def test_models_lists_every_metric_model_with_cache_state(capsys):
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    for name in ("ecapa-voxceleb", "resemblyzer-ge2e", "whisper-base", "openai-whisper-base", "dnsmos",
                 "visqol-lattice", "visqol-svr"):
        assert name in rows, name
    assert rows["ecapa-voxceleb"]["hub_id"] == "speechbrain/spkrec-ecapa-voxceleb"
    assert len(rows["ecapa-voxceleb"]["revision"]) == 40
    assert rows["resemblyzer-ge2e"]["cached"] is True and rows["visqol-lattice"]["bundled_in"] == "visqol"
    assert main(["models"]) == 0
    assert "cached" in capsys.readouterr().out


def test_offline_download_of_a_missing_model_is_one_clear_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code = main(["models", "download", "ecapa-voxceleb", "--offline", "--cache-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "spkrec-ecapa-voxceleb" in err and "codecbench models download" in err
    assert "Traceback" not in err


def test_download_of_bundled_models_works_offline(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["models", "download", "resemblyzer-ge2e,dnsmos", "visqol-lattice", "--offline"]) == 0
    out = capsys.readouterr().out
    assert "resemblyzer-ge2e:" in out and "dnsmos:" in out and "visqol-lattice:" in out
    assert main(["models", "download", "no-such-model"]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert is_cached(all_models()["dnsmos"]) is True
