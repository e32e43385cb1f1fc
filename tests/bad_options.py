"""Bad values of every numeric or enumerated option of every command (issue 25 part 6): the table that
``tests/test_command_options.py`` runs (each must be exit status 2 with exactly one line on stderr,
refused before any work) and that ``classify`` counts (the before/after figures of the issue note).

Each case is (id, argv); argv is built from the fixture folder ``d`` (``make_folder``): a good WAV and
manifest, two report run folders, a MUSHRA ratings CSV.
"""

from __future__ import annotations

import io
import json
import traceback
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pandas as pd

from codecbench import audio
from tests.helpers import speechlike

Argv = Callable[[Path], list[str]]


def _run(*extra: str) -> Argv:
    return lambda d: ["run", "--dataset", str(d / "good.jsonl"), "--codecs", "opus-6kbps", "--metrics", "si_sdr",
                      "--out", str(d / "out"), "--workers", "0", "--quiet", *extra]


def _score(*extra: str) -> Argv:
    return lambda d: ["score", str(d / "good.wav"), str(d / "good.wav"), *extra]


def _score_list(*extra: str) -> Argv:
    return lambda d: ["score", str(d / "ref.scp"), str(d / "deg.scp"), "--out", str(d / "out"), "--workers", "0",
                      "--quiet", *extra]


def _report(*extra: str) -> Argv:
    return lambda d: ["report", str(d / "runA"), "--out", str(d / "rep"), "--no-plots", *extra]


def _compare(*extra: str) -> Argv:
    return lambda d: ["compare", str(d / "runA"), str(d / "runB"), *extra]


def _mushra(*extra: str) -> Argv:
    return lambda d: ["mushra", str(d / "runA"), "--codecs", "codec-a", "--items", "2", "--out", str(d / "mu"), *extra]


def _analyze(*extra: str) -> Argv:
    return lambda d: ["mushra-analyze", str(d / "ratings.csv"), "--out", str(d / "an"), *extra]


TINY = ["--dim", "16", "--mlp-ratio", "2", "--encoder-blocks", "1", "--decoder-blocks", "1", "--latent-dim", "8",
        "--n-quantizers", "4", "--codebook-size", "16", "--fsq-codebooks", "2", "--fsq-levels", "5,3"]


def _train(*extra: str, manifest: str = "good.jsonl") -> Argv:
    return lambda d: ["train", "--manifest", str(d / manifest), "--out", str(d / "ckpt"), "--steps", "2",
                      "--threads", "1", "--batch-size", "2", "--segment-seconds", "0.4", "--save-every", "100", *TINY,
                      *extra]


CASES: list[tuple[str, Argv]] = [
    # run: every run field (the config schema's validators) and the run id
    ("run-limit-0", _run("--limit", "0")),
    ("run-limit-text", _run("--limit", "abc")),
    ("run-batch-size-negative", _run("--batch-size", "-1")),
    ("run-max-batch-seconds-inf", _run("--max-batch-seconds", "inf")),
    ("run-max-duration-0", _run("--max-duration", "0")),
    ("run-max-duration-negative", _run("--max-duration", "-5")),
    ("run-workers-negative", _run("--workers", "-1")),
    ("run-device-tpu", _run("--device", "tpu")),
    ("run-device-cuda-99", _run("--device", "cuda:99")),
    ("run-save-audio-negative", _run("--save-audio", "-1")),
    ("run-engine-spark", _run("--engine", "spark")),
    ("run-shard-k-above-n", _run("--shard", "3/2")),
    ("run-shard-0", _run("--shard", "0/2")),
    ("run-shard-text", _run("--shard", "abc")),
    ("run-dataset-format-unknown", _run("--dataset-format", "wav")),
    ("run-run-id-parent", _run("--run-id", "../../x")),
    ("run-run-id-slash", _run("--run-id", "a/b")),
    ("run-run-id-empty", _run("--run-id", "")),
    ("run-run-id-dot", _run("--run-id", "..")),
    ("run-codec-label-empty", lambda d: [*_run()(d)[:4], "=opus-6kbps", *_run()(d)[5:]]),
    ("run-codec-label-unsafe", lambda d: [*_run()(d)[:4], "a b=opus-6kbps", *_run()(d)[5:]]),
    ("run-codec-label-twice", lambda d: [*_run()(d)[:4], "x=opus-6kbps,x=opus-12kbps", *_run()(d)[5:]]),
    ("run-metric-opt-no-value", _run("--metric-opt", "si_sdr")),
    ("run-langs-comma", _run("--langs", ",")),
    ("run-log-to-unknown", _run("--log-to", "neptune")),
    ("run-dataset-columns-no-column", _run("--dataset-columns", "text")),
    ("run-dataset-lang-empty", _run("--dataset-lang", " ")),
    # score: the fields it shares with run, and its own
    ("score-max-duration-negative", _score("--max-duration", "-1")),
    ("score-max-duration-nan", _score("--max-duration", "nan")),
    ("score-workers-negative", _score_list("--workers", "-2")),
    ("score-device-tpu", _score_list("--device", "tpu")),
    ("score-engine-spark", _score_list("--engine", "spark")),
    ("score-run-id-parent", _score_list("--run-id", "../x")),
    ("score-bitrate-no-value", _score_list("--bitrate", "sys")),
    ("score-bitrate-negative", _score_list("--bitrate", "sys=-1")),
    ("score-bitrate-text", _score_list("--bitrate", "sys=abc")),
    # report
    ("report-examples-negative", _report("--examples", "-1")),
    ("report-examples-text", _report("--examples", "abc")),
    ("report-label-no-name", _report("--label", "foo")),
    # compare
    ("compare-min-n-0", _compare("--min-n", "0")),
    ("compare-min-n-negative", _compare("--min-n", "-1")),
    ("compare-alpha-0", _compare("--alpha", "0")),
    ("compare-alpha-above-1", _compare("--alpha", "1.5")),
    ("compare-alpha-nan", _compare("--alpha", "nan")),
    ("compare-resamples-negative", _compare("--resamples", "-1")),
    ("compare-resamples-0", _compare("--resamples", "0")),
    ("compare-power-level-above-1", _compare("--power", "--power-level", "1.5")),
    ("compare-max-drop-no-value", _compare("--max-drop", "pesq_wb")),
    ("compare-max-drop-text", _compare("--max-drop", "pesq_wb=abc")),
    ("compare-max-drop-negative", _compare("--max-drop", "pesq_wb=-1")),
    ("compare-detect-text", _compare("--power", "--detect", "pesq_wb=abc")),
    ("compare-label-no-name", _compare("--label", "foo")),
    # merge
    ("merge-missing-shard", lambda d: ["merge", str(d / "nope"), "--out", str(d / "merged")]),
    # mushra
    ("mushra-items-negative", _mushra("--items", "-3")),
    ("mushra-items-0", _mushra("--items", "0")),
    ("mushra-sample-rate-0", _mushra("--sample-rate", "0")),
    ("mushra-sample-rate-negative", _mushra("--sample-rate", "-1")),
    ("mushra-sample-rate-100", _mushra("--sample-rate", "100")),
    ("mushra-lufs-100", _mushra("--lufs", "100")),
    ("mushra-lufs-nan", _mushra("--lufs", "nan")),
    ("mushra-max-peak-positive", _mushra("--max-peak", "5")),
    ("mushra-max-peak-nan", _mushra("--max-peak", "nan")),
    ("mushra-max-seconds-negative", _mushra("--max-seconds", "-1")),
    ("mushra-max-seconds-nan", _mushra("--max-seconds", "nan")),
    ("mushra-seed-negative", _mushra("--seed", "-1")),
    # mushra-analyze
    ("analyze-threshold-150", _analyze("--threshold", "150")),
    ("analyze-threshold-negative", _analyze("--threshold", "-1")),
    ("analyze-threshold-nan", _analyze("--threshold", "nan")),
    ("analyze-max-share-above-1", _analyze("--max-share", "1.5")),
    ("analyze-max-share-negative", _analyze("--max-share", "-0.1")),
    # train
    ("train-steps-0", _train("--steps", "0")),
    ("train-steps-negative", _train("--steps", "-1")),
    ("train-batch-size-0", _train("--batch-size", "0")),
    ("train-dim-0", _train("--dim", "0")),
    ("train-n-fft-0", _train("--n-fft", "0")),
    ("train-stft-hop-0", _train("--stft-hop", "0")),
    ("train-device-cuda-99", _train("--device", "cuda:99")),
    ("train-device-bogus", _train("--device", "bogus")),
    ("train-manifest-missing", _train(manifest="nope.jsonl")),
    ("train-segment-seconds-0", _train("--segment-seconds", "0")),
    ("train-lr-0", _train("--lr", "0")),
    ("train-lr-nan", _train("--lr", "nan")),
    ("train-betas-text", _train("--betas", "abc")),
    ("train-betas-above-1", _train("--betas", "1.5,0.9")),
    ("train-lr-decay-0", _train("--lr-decay", "0")),
    ("train-lr-decay-above-1", _train("--lr-decay", "1.5")),
    ("train-warmup-negative", _train("--warmup", "-1")),
    ("train-grad-clip-0", _train("--grad-clip", "0")),
    ("train-threads-0", _train("--threads", "0")),
    ("train-threads-negative", _train("--threads", "-1")),
    ("train-log-every-0", _train("--log-every", "0")),
    ("train-save-every-0", _train("--save-every", "0")),
    ("train-fsq-levels-text", _train("--fsq-levels", "a,b")),
    ("train-max-minutes-negative", _train("--max-minutes", "-1")),
    ("train-adv-start-negative", _train("--adv-start", "-1")),
    ("train-w-mel-negative", _train("--w-mel", "-1")),
    ("train-quantizer-dropout-above-1", _train("--quantizer-dropout", "1.5")),
    ("train-preset-unknown", _train("--preset", "gpu-huge")),
    ("train-aug-noise-above-1", _train("--aug-noise", "1.5")),
    ("train-augment-unknown", _train("--augment", "extreme")),
    ("train-aug-snr-db-reversed", _train("--aug-snr-db", "40,5")),
    ("train-aug-level-db-one", _train("--aug-level-db", "-20")),
    ("train-aug-codec-without-copies", _train("--aug-codec", "0.2")),
    ("train-val-every-negative", _train("--val-every", "-1")),
    ("train-val-count-0", _train("--val-count", "0")),
    ("train-val-conditions-needs-a-tool", _train("--val-conditions", "clean,mulaw-8k")),
    ("train-val-manifest-missing", _train("--val-manifest", "nope.jsonl")),
    # models, protocol
    ("models-metrics-comma", lambda d: ["models", "--metrics", ","]),
    ("models-config-missing", lambda d: ["models", "--config", str(d / "nope.yaml")]),
    ("models-download-unknown", lambda d: ["models", "download", "no-such-model", "--offline"]),
    ("protocol-validate-unknown", lambda d: ["protocol", "validate", "no-such-protocol"]),
    ("protocol-table-missing", lambda d: ["protocol", "table", str(d / "nope")]),
]


def cuda_cases() -> list[tuple[str, Argv]]:
    """``--device cuda`` is a bad value only on a machine without CUDA."""
    import torch

    if torch.cuda.is_available():
        return []
    return [("run-device-cuda", _run("--device", "cuda")), ("train-device-cuda", _train("--device", "cuda"))]


def make_folder(d: Path) -> Path:
    """The fixture folder every case's argv points into."""
    from tests.report_fixture import build_run

    rows = []
    for i, seconds in enumerate((1.2, 1.4)):
        audio.save(d / f"u{i}.wav", speechlike(seconds, 16000, seed=i), 16000)
        rows.append(json.dumps({"id": f"u{i}", "path": str(d / f"u{i}.wav"), "lang": "en"}))
    audio.save(d / "good.wav", speechlike(1.0, 16000), 16000)
    (d / "good.jsonl").write_text("\n".join(rows) + "\n")
    (d / "ref.scp").write_text("".join(f"u{i} {d / f'u{i}.wav'}\n" for i in range(2)))
    (d / "deg.scp").write_text("".join(f"u{i} {d / f'u{i}.wav'}\n" for i in range(2)))
    build_run(d / "runA", codecs={"codec-a": 0.0, "codec-b": 0.5}, per_lang=3, save_audio=3)
    build_run(d / "runB", codecs={"codec-a": 0.0, "codec-b": 0.5}, per_lang=3, save_audio=3, seed=1)
    pd.DataFrame([{"session_test_id": "t", "name": "L1", "trial_id": f"en_{i:02d}", "rating_stimulus": stim,
                   "rating_score": score, "rating_time": 1000, "rating_comment": ""}
                  for i in range(3) for stim, score in (("reference", 100), ("anchor35", 20), ("codec-a", 70))]
                 ).to_csv(d / "ratings.csv", index=False)
    return d


def call(argv: list[str]) -> tuple[int | None, str, str | None]:
    """Run ``codecbench ARGV`` in this process: (exit status, stderr, traceback of an escaped exception)."""
    from codecbench.cli import main

    err, out = io.StringIO(), io.StringIO()
    code, tb = None, None
    with redirect_stderr(err), redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException:  # noqa: BLE001 - counted: a traceback is what the table must not see
            tb = traceback.format_exc()
    return code, err.getvalue(), tb


def classify(code: int | None, err: str, tb: str | None) -> str:
    """``ok`` (exit 2, one line), ``traceback``, ``accepted`` (exit 0) or ``other`` (e.g. two lines)."""
    lines = [x for x in err.splitlines() if x.strip()]
    if tb is not None or "Traceback" in err:
        return "traceback"
    if code == 0:
        return "accepted"
    return "ok" if code == 2 and len(lines) == 1 else "other"
