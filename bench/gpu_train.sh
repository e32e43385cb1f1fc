#!/usr/bin/env bash
# The GPU training run of the shipped in-house checkpoints (one device call; see docs/training.md).
# Run from the repository root of a checkout that carries the bundle made by bench/gpu_bundle.py in .gpu:
#   OUT=/some/folder MINUTES=7 bash .gpu/bench/gpu_train.sh
# Trains four runs concurrently on the one GPU, each continuing from a shipped checkpoint with the robust
# augmentation recipe, the codec copies and espeak-ng speech in de/es/fr/hi: rvq, fsq, vae, and rvq with
# the adversarial losses (rvq-adv). Writes one tar per run (checkpoint, TRAINING.md, log.jsonl,
# validation.jsonl), the trainers' stderr, the GPU batching figure of bench/codec_rtf.py and nvidia-smi.
set -u
G=.gpu
MINUTES=${MINUTES:-7}
STEPS=${STEPS:-100000}
RUNS=${RUNS:-rvq fsq vae rvq-adv}
EXTRA=${EXTRA:-}
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
# PYTHONSAFEPATH: the checkout's own codecbench/ (cwd) must not shadow the carried package
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2 PYTHONSAFEPATH=1
mkdir -p "$OUT" /tmp/site /tmp/pesqsite runs
if [ -z "${SKIP_WHEELS:-}" ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site $G/whl/*.whl || exit 1
fi
export PYTHONPATH=$PWD/$G:/tmp/site:/tmp/pesqsite
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$OUT/gpu.txt" 2>&1
# pesq has no wheel: its C is compiled there, moved into place in one rename (validation finds it once ready)
( $PY -m pip install -q --no-deps --no-build-isolation --no-cache-dir --target /tmp/pesqbuild $G/pesq-src \
    && mv /tmp/pesqbuild/pesq /tmp/pesqsite/pesq ) >"runs/pesq_build.log" 2>&1 &
$PY -c "import soundfile, soxr, codecbench, codecbench.inhouse.train, codecbench.metrics.registry as r; print(codecbench.__file__,
'metrics:', sorted(r.all_metrics()))" >runs/preflight.log 2>&1
common=(--manifest $G/data/hi/manifest.jsonl $G/data/espeak/manifest.jsonl
        --aug-codec-manifest $G/data/hi-opus/manifest.jsonl --augment robust
        --val-manifest $G/data/hi-val/manifest.jsonl --val-count 8 --val-every 1500
        --val-conditions clean,lowpass-4000,noise-20dB
        --device "$DEVICE" --threads 2 --batch-size 64 --segment-seconds 0.64 --lr 3e-4 --warmup 200
        --lr-decay 0.99982 --log-every 100 --save-every 1000 --steps "$STEPS" --max-minutes "$MINUTES" --seed 3)
for run in $RUNS; do
  kind=${run%%-*}
  args=(--kind "$kind" --out "runs/$run" --init-from "codecbench/checkpoints/ours-$kind")
  [ "$run" = rvq-adv ] && args+=(--adversarial)
  $PY -m codecbench train "${args[@]}" "${common[@]}" $EXTRA >"runs/$run.stdout" 2>"runs/$run.log" &
done
# the GPU batching figure (issue 31): real-size random weights; the trainings start beside it (their first
# ~20 s load audio on the CPU), so the figure is an upper bound on what the GPU alone gives
[ -z "${SKIP_RTF:-}" ] && timeout 150 $PY $G/bench/codec_rtf.py --codecs encodec-24k-6kbps,dac-24k --batch-sizes 1,32 --seconds 4 \
    --device "$DEVICE" --random ${RTF_EXTRA:-} >"$OUT/codec_rtf_cuda.txt" 2>&1
nvidia-smi >>"$OUT/gpu.txt" 2>&1
wait
for run in $RUNS; do
  [ -f "runs/$run/model.safetensors" ] && tar cf "$OUT/$run.tar" -C runs "$run/model.safetensors" \
      "$run/config.json" "$run/TRAINING.md" "$run/log.jsonl" $( [ -f "runs/$run/validation.jsonl" ] && echo "$run/validation.jsonl")
done
tar czf "$OUT/logs.tar.gz" runs/*.log runs/*.stdout
ls -la "$OUT"
tail -n 3 runs/*.log
