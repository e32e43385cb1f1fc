"""Speaker-embedding parity with the models' own code (issue 23), without ../shared.

* ECAPA: SpeechBrain's ``EncoderClassifier.from_hparams`` (speechbrain 1.1.2, a test-only reference from
  ``make parity-refs``; torchaudio stubbed, see tests/parity_stubs/README.md) and our
  ``EcapaEncoder`` load the same SpeechBrain-layout folder (random weights); embeddings compared one
  item at a time and as one padded batch (both sides mask with relative lengths).
* GE2E: Resemblyzer's ``VoiceEncoder`` (its bundled pretrained.pt) vs our ``Ge2eEncoder`` on
  speech-like signals of several lengths (the real-speech comparison is in test_metrics_speaker.py).

Bound: the same float32 operations in another order (our Fbank/LSTM calls vs theirs): embeddings
within ``ROUNDING`` x their largest entry, and 1 - cosine within ``ROUNDING``, with ``ROUNDING`` =
``codecbench.testing.FLOAT32_NETWORK_RTOL`` (derived there; see also test_metrics_speaker.py).
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from codecbench.testing import FLOAT32_NETWORK_RTOL
from codecbench.testing import test_signal as signal
from tests import parity_refs as R
from tests.helpers import write_random_ecapa

torch = pytest.importorskip("torch")
ROUNDING = FLOAT32_NETWORK_RTOL
LENGTHS = (0.7, 1.9, 3.3)  # seconds: shorter than, about, and longer than a GE2E partial (1.6 s)


def _waves() -> list[np.ndarray]:
    return [signal(s, 16000, k)[: int(s * 16000) + 11 * k] for k, s in enumerate(LENGTHS)]


def _close(ours: np.ndarray, theirs: np.ndarray, what: str) -> None:
    scale = float(np.abs(theirs).max())
    assert np.abs(ours - theirs).max() <= ROUNDING * scale, (what, float(np.abs(ours - theirs).max()), scale)
    cos = float(ours @ theirs / (np.linalg.norm(ours) * np.linalg.norm(theirs)))
    assert 1 - cos <= ROUNDING, (what, cos)


def test_ecapa_matches_speechbrain(tmp_path):
    from codecbench.metrics.speaker.ecapa import EcapaEncoder

    torch.set_num_threads(1)
    folder = tmp_path / "spkrec"
    write_random_ecapa(folder)
    ours = EcapaEncoder(folder)
    waves = _waves()
    with R.references():
        from speechbrain.inference.speaker import EncoderClassifier

        ref = EncoderClassifier.from_hparams(source=str(folder), savedir=str(tmp_path / "saved"), run_opts={"device": "cpu"})
        single = [ref.encode_batch(torch.from_numpy(w)[None])[0, 0].numpy() for w in waves]
        longest = max(len(w) for w in waves)
        batch = torch.zeros(len(waves), longest)
        for i, w in enumerate(waves):
            batch[i, : len(w)] = torch.from_numpy(w)
        rel = torch.tensor([len(w) / longest for w in waves])
        batched = ref.encode_batch(batch, rel)[:, 0].numpy()
    assert "speechbrain" not in sys.modules and "torchaudio" not in sys.modules
    mine_single = [ours.embed([w])[0] for w in waves]
    mine_batched = ours.embed(waves)
    for i in range(len(waves)):
        _close(mine_single[i], single[i], f"single item {i}")
        _close(mine_batched[i], batched[i], f"batched item {i}")


def test_ge2e_matches_resemblyzer():
    from codecbench.metrics.speaker.ge2e import Ge2eEncoder

    torch.set_num_threads(1)
    added = "webrtcvad" not in sys.modules
    if added:  # resemblyzer imports webrtcvad (for its VAD, unused here), whose import needs pkg_resources
        try:
            import webrtcvad  # noqa: F401
            added = False
        except Exception:
            sys.modules["webrtcvad"] = types.ModuleType("webrtcvad")
    try:
        from resemblyzer import VoiceEncoder
        from resemblyzer.audio import normalize_volume

        ve = VoiceEncoder("cpu", verbose=False)
        waves = _waves()
        theirs = [ve.embed_utterance(normalize_volume(w, -30, increase_only=True)) for w in waves]
    finally:
        if added:
            del sys.modules["webrtcvad"]
    enc = Ge2eEncoder()
    batched = enc.embed(waves)
    for i, w in enumerate(waves):
        _close(enc.embed([w])[0], theirs[i], f"item {i}")
        _close(batched[i], theirs[i], f"batched item {i}")
