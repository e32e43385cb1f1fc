"""codecbench.testing run over every registered codec and metric (plugins included), and the checkers
themselves shown to catch what they claim to (a code flip at a clear choice, a made-up score)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import MULAW_INFO, mulaw_spec

from codecbench.codecs._testing import build_checkpoint
from codecbench.codecs.registry import CodecSpec, all_specs
from codecbench.metrics.base import Metric, MetricInfo, Output
from codecbench.metrics.registry import all_metrics, create
from codecbench.models import all_models
from codecbench.testing import check_codec, check_metric, inhouse_margins
from codecbench.types import Failure

SPECS = all_specs()
SHORT = (0.31, 0.12, 0.22)  # the bundled RVQ's quantizer-prefix variants: same model, shorter clips


def _model_of(variant: str) -> str | None:
    for m in all_models().values():
        if variant in m.used_by and m.hub_id:
            return m.name
    return None


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    root, cache = tmp_path_factory.mktemp("weights"), {}

    def get(model: str):
        if model not in cache:
            cache[model] = build_checkpoint(model, root / model)
        return cache[model]

    return get


@pytest.mark.parametrize("name", sorted(SPECS))
def test_check_codec_on_every_registered_codec(name, random_weights):
    spec = SPECS[name]
    kw = {}
    if spec.info.family == "ours" and spec.info.codebooks:
        kw["margins"] = inhouse_margins  # codes may flip only at near ties
        if name not in ("ours-rvq", "ours-rvq-1q"):
            kw["seconds"] = SHORT
    if name.startswith("encodec-48k"):
        kw["frame_slack"] = 150  # counts the real frames of 1 s chunks every 0.99 s (see codecbench/codecs/encodec.py)
    if name.startswith("snac-"):
        kw["frame_slack"] = 32  # sends every code of SNAC's input padded to 32 finest frames (see codecs/snac.py)
    model = _model_of(name)
    if spec.unavailable_reason() is not None and model is not None:  # no real weights here: random ones
        name = f"{name}:{random_weights(model)}"
    else:
        assert spec.unavailable_reason() is None, spec.unavailable_reason()
    check_codec(name, **kw)


def test_check_codec_on_the_example_plugin():
    rep = check_codec(mulaw_spec())
    assert rep.items == 3 and rep.flips == 0 and rep.max_wave_diff == 0


class _Flip(type(mulaw_spec().load(None, "cpu"))):
    """Flips code 5 of item 0 (and every 10th code if ``many``) when encoded in a batch."""

    many = False

    def encode_native(self, wave, lengths):
        enc = super().encode_native(wave, lengths)
        if len(lengths) > 1:
            enc.codes[0][0, 5] = (enc.codes[0][0, 5] + 1) % 256
            if self.many:
                enc.codes[0][0, ::10] = (enc.codes[0][0, ::10] + 1) % 256
        return enc


def _flip_spec(many: bool = False) -> CodecSpec:
    cls = type("F", (_Flip,), {"many": many})
    return CodecSpec(info=MULAW_INFO, load=lambda arg, device: cls(MULAW_INFO))


def test_code_flip_is_accepted_only_at_a_near_tie():
    tie = check_codec(_flip_spec(), margins=lambda codec: lambda w: [np.zeros(len(w))])
    assert tie.flips == 1
    with pytest.raises(AssertionError, match="differ at a clear choice"):
        check_codec(_flip_spec(), margins=lambda codec: lambda w: [np.ones(len(w))])
    assert check_codec(_flip_spec()).flips == 1  # no gaps known: a rare flip passes ...
    with pytest.raises(AssertionError, match="code flips in"):  # ... a systematic one does not
        check_codec(_flip_spec(many=True))


# -- metrics ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(all_metrics()))
def test_check_metric_on_every_registered_metric(name, tmp_path):
    check_metric(create(name), workdir=str(tmp_path))  # a fresh instance, as a run creates it


class _Made(Metric):
    name = "made_up"

    def __init__(self, batch_shift: float = 0.0, nan_score: float | None = None):
        self.batch_shift, self.nan_score = batch_shift, nan_score

    def info(self) -> MetricInfo:
        return MetricInfo(name=self.name, outputs=(Output("made_up"),), batched=True)

    def compute(self, x):
        if not np.isfinite(x.deg).all():
            return {"made_up": self.nan_score} if self.nan_score is not None else {"made_up": Failure.failed("NaN")}
        return {"made_up": float(np.mean(np.abs(x.ref - x.deg)))}

    def compute_batch(self, xs):
        return [{k: (v + self.batch_shift if isinstance(v, float) else v) for k, v in self.compute(x).items()}
                for x in xs]


def test_check_metric_catches_made_up_scores_and_batch_drift():
    check_metric(_Made())
    with pytest.raises(AssertionError, match="scored, expected Failures"):
        check_metric(_Made(nan_score=0.0))
    with pytest.raises(AssertionError, match="batch != single"):
        check_metric(_Made(batch_shift=1e-3))


def test_check_metric_against_a_declared_reference():
    check_metric(_Made(), reference=lambda x: {"made_up": float(np.mean(np.abs(x.ref - x.deg)))})
    with pytest.raises(AssertionError, match="reference"):
        check_metric(_Made(), reference=lambda x: {"made_up": 1.0})
