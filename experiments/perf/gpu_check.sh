#!/usr/bin/env bash
# The GPU part of `make bench`, as one script for a machine with a CUDA GPU and PyTorch already
# installed (hydra-core/omegaconf taken from PYTHONPATH when missing). Writes into ${OUT:-reports/bench}.
set -uo pipefail
OUT=${OUT:-reports/bench}
mkdir -p "$OUT"
export PYTHONPATH=.:${PYTHONPATH:-}
export PYTHONUNBUFFERED=1 WANDB_MODE=offline YOLO_OFFLINE=true
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__, torch.cuda.get_device_name(0))" | tee -a "$OUT/gpu.txt"
# 1. Training (project path vs raw loop, bf16, 224 px, batch 256), torch.compile, fused inference.
timeout 420 python3 -m benchmarks.bench bench=gpu bench.output="$OUT/bench-gpu.json" model.channels_last=true \
  bench.train_frames=${TRAIN_FRAMES:-8000} bench.steps=${STEPS:-160} bench.warmup=30 hydra.run.dir=/tmp/dfl-bench-run \
  2>&1 | tail -n 60 > "$OUT/bench-gpu.log"
# 2. dfl-train experiment=paper_general trainer=gpu on a small generated Celeb-DF folder (end to end).
python3 -m deepfake_lightning.apps.synth synth.num_real=150 synth.num_fake=750 synth.num_identities=20 \
  synth.resolution=256 synth.frames_per_video=8 out_dir=/tmp/dfl-synth hydra.run.dir=/tmp/dfl-synth-run > "$OUT/train-gpu.log" 2>&1
timeout 240 python3 -m deepfake_lightning.apps.train experiment=paper_general model.net.weights=null data.root=/tmp/dfl-synth \
  paths.cache_dir=/tmp/dfl-cache data.face_crop=${FACE_CROP:-true} trainer.max_epochs=2 logger=csv hydra.run.dir=/tmp/dfl-train-run >> "$OUT/train-gpu.log" 2>&1
cp /tmp/dfl-train-run/metrics.json "$OUT/train-gpu-metrics.json" 2>/dev/null
cp /tmp/dfl-train-run/csv/metrics.csv "$OUT/train-gpu-curve.csv" 2>/dev/null
tail -n 5 "$OUT/train-gpu.log"
cat "$OUT/bench-gpu.json" 2>/dev/null | head -c 3000
