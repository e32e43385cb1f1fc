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
    monkeypatch.setattr(registry, "_SPECS", None)
    specs = registry.all_specs()
    assert "demo-plugin" in specs and "opus-6kbps" in specs
    assert main(["codecs"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("demo-plugin"))
    assert "no: missing Python package(s): no_such_module_xyz (pip install demo)" in line
    monkeypatch.setattr(registry, "_SPECS", None)
    sys.modules.pop("cb_plugin_demo", None)


def test_name_arguments():
    assert registry.split_name("ours-rvq:/a/b:c") == ("ours-rvq", "/a/b:c")
    with pytest.raises(KeyError, match="takes no"):
        registry.get_spec("opus-6kbps:/tmp/x")
