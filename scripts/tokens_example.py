"""The worked example of docs/tokens.md: token stability and the token LM for the in-house RVQ and FSQ
codecs (shipped checkpoints) and the EnCodec and DAC adapters with RANDOM weights (small channel
counts, real strides and codebooks: codecbench.codecs._testing; their tokens mean nothing), on hi, ta
and en: the embedded espeak-ng demo set (4 sentences per language) plus the real recordings of
../shared/testdata (16 Hindi broadcast clips, 2 English clips; held out from ours-rvq/fsq's training).

    PYTHONPATH=. python scripts/tokens_example.py --out results/tokens-example [--workers 1]

Writes a manifest, the random checkpoints and the run folder under --out, then prints the run's token
figures (summary.csv rows) for ours-rvq and ours-fsq.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "testdata"


def manifest(out: Path) -> Path:
    from codecbench.data import load_dataset

    lines = [{"id": u.id, "path": u.path, "lang": u.lang, "text": u.text, "speaker": u.speaker}
             for u in load_dataset(None).utterances]
    for item in json.loads((SHARED / "manifest.json").read_text(encoding="utf-8")):
        if item.get("lang") in ("hi", "en", "ta") and item["path"].split("/")[0] in ("hi", "en"):
            path = SHARED / item["path"]
            lines.append({"id": f"testdata-{path.stem}", "path": str(path), "lang": item["lang"],
                          "text": item.get("text", ""), "speaker": f"testdata-{path.stem}"})
    dest = out / "manifest.jsonl"
    dest.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    return dest


def main() -> None:
    from codecbench.cli import main as cli
    from codecbench.codecs._testing import build_checkpoint

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "results" / "tokens-example"))
    ap.add_argument("--workers", default="1")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = {m: build_checkpoint(m, out / "random" / m, size="small", seed=0) for m in ("encodec-24k", "dac-16k")}
    config = {"dataset": str(manifest(out)),
              "codecs": ["ours-rvq", "ours-fsq",
                         {"name": "encodec-24k-6kbps", "arg": str(ckpt["encodec-24k"]), "label": "encodec-24k-6kbps-random"},
                         {"name": "dac-16k", "arg": str(ckpt["dac-16k"]), "label": "dac-16k-random"}],
              "metrics": ["token_stability", {"name": "token_lm", "cross_language": True}]}
    (out / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")  # YAML is a superset of JSON
    run = out / "run"
    code = cli(["run", "--config", str(out / "config.json"), "--workers", args.workers, "--save-audio", "none",
                "--out", str(run), "-q", "--offline"])
    if code:
        raise SystemExit(code)
    import pandas as pd

    s = pd.read_csv(run / "summary.csv", keep_default_na=False, na_values=[""])
    keep = s["metric"].str.match(r"(ued_|lm_|unigram_)")
    print(s.loc[keep, ["codec", "lang", "metric", "n", "mean", "ci_low", "ci_high"]].to_string(index=False))


if __name__ == "__main__":
    main()
