"""Codec registry: built-ins, NAME:ARG, and third-party plugins through the codecbench.codecs entry points."""

from __future__ import annotations

import sys

import pytest

from codecbench.cli import main
from codecbench.codecs import registry


def test_plugin_codec_from_entry_point(tmp_path, monkeypatch, capsys):
    pkg = tmp_path / "cb_plugin_demo"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from codecbench.codecs.registry import CodecSpec\n"
        "from codecbench.types import CodecInfo\n"
        "def specs():\n"
        "    info = CodecInfo(name='demo-plugin', family='demo', sample_rate=16000)\n"
        "    return [CodecSpec(info=info, load=lambda arg, device: None, requires=('no_such_module_xyz',),\n"
        "                      install_hint='pip install demo')]\n")
    dist = tmp_path / "cb_plugin_demo-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: cb-plugin-demo\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[codecbench.codecs]\ndemo = cb_plugin_demo:specs\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry.CODECS, "_items", None)  # look at the entry points again
    specs = registry.all_specs()
    assert "demo-plugin" in specs and "opus-6kbps" in specs
    assert main(["codecs"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("demo-plugin"))
    assert "no: missing Python package(s): no_such_module_xyz (pip install demo)" in line
    monkeypatch.setattr(registry.CODECS, "_items", None)
    sys.modules.pop("cb_plugin_demo", None)


def test_name_arguments():
    assert registry.split_name("ours-rvq:/a/b:c") == ("ours-rvq", "/a/b:c")
    with pytest.raises(KeyError, match="takes no"):
        registry.get_spec("opus-6kbps:/tmp/x")


def test_plugin_metrics_and_models_from_entry_points(tmp_path, monkeypatch, capsys):
    """One registry for codecs, metrics and models: a plugin's metric and model are found through their
    entry points; `codecbench models` lists the model; a broken plugin is a warning, never a crash."""
    from codecbench import models
    from codecbench.metrics import registry as metric_registry

    pkg = tmp_path / "cb_plugin_more"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from codecbench.metrics.base import Metric, MetricInfo, Output\n"
        "from codecbench.models import ModelSpec\n"
        "class Loud(Metric):\n"
        "    name = 'plugin_loudness'\n"
        "    def info(self):\n"
        "        return MetricInfo(name=self.name, outputs=(Output('plugin_loudness'),), default=False)\n"
        "    def compute(self, x):\n"
        "        return {'plugin_loudness': float(abs(x.deg).max())}\n"
        "def metrics():\n"
        "    return [Loud()]\n"
        "def models():\n"
        "    return [ModelSpec(name='plugin-model', description='a plugin model', used_by=('plugin_loudness',),\n"
        "                      bundled_in='cb_plugin_more')]\n")
    dist = tmp_path / "cb_plugin_more-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: cb-plugin-more\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[codecbench.metrics]\nmore = cb_plugin_more:metrics\n"
                                           "[codecbench.models]\nmore = cb_plugin_more:models\n"
                                           "broken = cb_plugin_more:no_such_function\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(metric_registry.METRICS, "_items", None)
    monkeypatch.setattr(models.MODELS, "_items", None)
    assert "plugin_loudness" in metric_registry.all_metrics() and "pesq_wb" in metric_registry.all_metrics()
    assert metric_registry.resolve_names(["plugin_loudness"]) == ["plugin_loudness"]
    with pytest.warns(UserWarning, match="model plugin 'broken'"):
        found = models.all_models()
    assert found["plugin-model"].used_by == ("plugin_loudness",) and "ecapa-voxceleb" in found
    assert any("broken" in e for e in models.MODELS.errors())
    assert main(["models"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("plugin-model"))
    assert "in package cb_plugin_more" in line and "yes" in line
    monkeypatch.setattr(metric_registry.METRICS, "_items", None)
    monkeypatch.setattr(models.MODELS, "_items", None)
    sys.modules.pop("cb_plugin_more", None)
