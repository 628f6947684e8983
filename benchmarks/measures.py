"""Throughput and memory measurements for `make bench` (benchmarks/bench.py): each is a ratio against a reference in the same process."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from deepfake_lightning.data.cache import FRAMES_FILE, GEOMETRY_FILE, INDEX_FILE, MANIFEST_FILE, write_index, write_json
from deepfake_lightning.data.extract import crop_frames, packaged_extract_config
from deepfake_lightning.data.faces import GEOMETRY_DIM
from deepfake_lightning.data.video import evenly_spaced, read_frames


def synthetic_cache(path: str | Path, n: int, size: int, seed: int = 0, real_fraction: float = 1 / 6) -> Path:
    """A frame cache of random frames (1:5 real:fake), written directly: for benchmarks, not for training."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    frames = np.memmap(path / FRAMES_FILE, dtype=np.uint8, mode="w+", shape=(n, size, size, 3))
    for i in range(0, n, 1024):
        frames[i : i + 1024] = rng.integers(0, 256, (min(1024, n - i), size, size, 3), dtype=np.uint8)
    frames.flush()
    labels = (rng.random(n) >= real_fraction).astype(int)
    index = {
        "row": np.arange(n),
        "video": np.array([f"v{i}.mp4" for i in range(n)], dtype=object),
        "frame": np.zeros(n, int),
        "label": labels,
        "identity": np.array([f"id{i % 50}" for i in range(n)], dtype=object),
        "face": np.array(["full"] * n, dtype=object),
    }
    write_index(path / INDEX_FILE, index)
    # Face geometry as extraction stores it when no landmark model is installed: the box alone.
    geometry = np.full((n, GEOMETRY_DIM), np.nan, dtype=np.float32)
    geometry[:, :4] = (0.2 * size, 0.15 * size, 0.6 * size, 0.7 * size)
    geometry.tofile(path / GEOMETRY_FILE)
    write_json(path / MANIFEST_FILE, {"n_frames": n, "config": {"image_size": size}, "skipped": [], "counts": {},
                                      "landmarks": "box"})  # fmt: skip
    return path


class _StepTimer(L.Callback):
    """Wall time of each training batch start, to take the marginal rate after warm-up."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        if torch.cuda.is_available() and trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()
        self.times.append(time.perf_counter())


def marginal_rate(times: list[float], batch: int, warmup: int) -> float:
    """Images per second between batch `warmup` and the last timed batch."""
    t = times[warmup:]
    if len(t) < 2:
        raise ValueError("too few timed steps: raise bench.steps")
    return batch * (len(t) - 1) / (t[-1] - t[0])


def cache_overrides(cache: str | Path, size: int, batch: int) -> list[str]:
    """The `data` overrides that train on a built cache as it is: all of it in train, balanced batches."""
    return [f"data.root={cache}", f"paths.cache_dir={cache}", f"data.cache_path={cache}",
            f"data.extract.image_size={size}", f"data.batch_size={batch}", "data.balanced_sampler=true",
            "split=stratified", "split.fractions=[1.0,0.0,0.0]"]  # fmt: skip


def project_train_rate(model_cfg: Any, data_overrides: list[str], trainer_kw: dict, steps: int, warmup: int) -> float:
    """img/s of the real path: cache -> DataModule (+ augmentation) -> LightningModule -> Trainer."""
    from deepfake_lightning.data.datamodule import datamodule_from_overrides
    from deepfake_lightning.models.loading import build_classifier

    model = build_classifier(model_cfg)
    dm = datamodule_from_overrides(data_overrides)
    dm.setup()
    model.set_class_counts(**dm.seen_class_counts())
    model.use_pseudo_fakes(dm.pseudo_fakes)
    timer = _StepTimer()
    trainer = L.Trainer(
        max_steps=steps,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
        **trainer_kw,
    )
    trainer.fit(model, datamodule=dm)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    timer.times.append(time.perf_counter())
    return marginal_rate(timer.times, dm.loader_cfg.batch_size, warmup)


def raw_train_rate(
    model_cfg: Any, batch: int, size: int, steps: int, warmup: int, device: str, precision: str
) -> float:
    """img/s of a plain PyTorch loop over the same model and batch shape on tensors already in memory."""
    from deepfake_lightning.models.loading import build_classifier

    module = build_classifier(model_cfg)
    net = module.net.to(device)
    if module.hparams.channels_last:
        net = net.to(memory_format=torch.channels_last)
    net.train()
    from deepfake_lightning.models.backbones import keep_frozen_bn_eval

    keep_frozen_bn_eval(net)
    opt = module.optimizer_factory(params=[p for p in net.parameters() if p.requires_grad])
    x = torch.randn(batch, 3, size, size, device=device)
    if module.hparams.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (batch,), device=device)
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler(enabled=dtype == torch.float16)
    times = []
    for _ in range(steps):
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter())
        with torch.autocast(device_type=device, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = F.cross_entropy(net(x).float(), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    if device == "cuda":
        torch.cuda.synchronize()
    times.append(time.perf_counter())
    return marginal_rate(times, batch, warmup)


def naive_extract(path: Path, k: int) -> int:
    """Reference: decode every frame with OpenCV, keep K evenly spaced ones."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return len([frames[i] for i in evenly_spaced(len(frames), k)])


def extraction_rates(videos: list[Path], k: int, size: int) -> dict[str, float]:
    """videos/s and frames/s of the project's extractor and of the naive loop, same videos, same run."""
    cfg = packaged_extract_config(frames_per_video=k, image_size=size, face_crop=False)
    t0 = time.perf_counter()
    n_proj = 0
    for v in videos:
        n_proj += len(crop_frames(read_frames(v, k), cfg)[0])
    t_proj = time.perf_counter() - t0
    t0 = time.perf_counter()
    n_naive = sum(naive_extract(v, k) for v in videos)
    t_naive = time.perf_counter() - t0
    return {
        "k": k,
        "project_videos_per_s": len(videos) / t_proj,
        "project_frames_per_s": n_proj / t_proj,
        "naive_videos_per_s": len(videos) / t_naive,
        "naive_frames_per_s": n_naive / t_naive,
        "speedup": t_naive / t_proj,
    }


def peak_rss_of_training(cache: Path, size: int, input_size: int, batch: int, steps: int) -> float:
    """Peak RSS (MiB) of a short training run over `cache`, in a fresh process."""
    code = f"""
import resource, json, lightning as L, hydra
from deepfake_lightning.data.datamodule import datamodule_from_overrides
from deepfake_lightning.models.backbones import build_resnet50
from deepfake_lightning.models.classifier import DeepfakeClassifier
import functools, torch
dm = datamodule_from_overrides({cache_overrides(cache, size, batch)!r})
net = build_resnet50(freeze_layers=["conv1", "bn1", "layer1", "layer2"])
m = DeepfakeClassifier(net, functools.partial(torch.optim.AdamW, lr=1e-3), input_size={input_size})
L.Trainer(max_steps={steps}, limit_val_batches=0, num_sanity_val_steps=0, logger=False, enable_checkpointing=False,
          enable_progress_bar=False, enable_model_summary=False, accelerator="cpu").fit(m, datamodule=dm)
print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ)
    return float(out.stdout.strip().splitlines()[-1])


def self_peak_rss_mib() -> float:
    """Peak RSS of this process in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dump(obj: dict, path: Path) -> None:
    """Write JSON, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2))


def face_variants(img: np.ndarray) -> dict[str, np.ndarray]:
    """A frame and the hard cases for face detectors: rotated, downscaled, darkened, JPEG-compressed."""
    h, w = img.shape[:2]

    def rot(deg: float) -> np.ndarray:
        m = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
        return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)

    def jpeg(q: int) -> np.ndarray:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)

    return {
        "original": img,
        "rotated 20 deg": rot(20),
        "rotated 40 deg": rot(40),
        "downscaled x0.5": cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA),
        "downscaled x0.25": cv2.resize(img, (w // 4, h // 4), interpolation=cv2.INTER_AREA),
        "darkened x0.35": (img.astype(np.float32) * 0.35).astype(np.uint8),
        "JPEG q=15": jpeg(15),
    }


def face_detection_table(frames: list[np.ndarray], detectors: tuple[str, ...] = ("haar", "dlib")) -> dict:
    """Per variant and detector: frames with a face found (of len(frames)) and mean ms per frame."""
    from deepfake_lightning.data.faces import detect_face

    out: dict = {"frames": len(frames), "variants": {}}
    variants = [face_variants(f) for f in frames]
    for name in variants[0]:
        row = {}
        for det in detectors:
            t0 = time.perf_counter()
            found = sum(detect_face(v[name], det, 0.0) is not None for v in variants)
            row[det] = {"found": found, "ms_per_frame": 1000 * (time.perf_counter() - t0) / len(frames)}
        out["variants"][name] = row
    return out


def write_h264(path: Path, frames: int, size: tuple[int, int], base: np.ndarray | None, fps: int = 30) -> None:
    """An H.264 MP4 (Celeb-DF's codec) of `frames` frames panning across `base` (or a gradient)."""
    import av

    w, h = size
    if base is None:
        base = np.tile(np.linspace(0, 255, w, dtype=np.uint8)[None, :, None], (h, 1, 3))
    base = cv2.resize(base, (w + frames, h))
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"preset": "ultrafast", "g": "60"}
        for i in range(frames):
            rgb = cv2.cvtColor(np.ascontiguousarray(base[:, i : i + w]), cv2.COLOR_BGR2RGB)
            for p in s.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def process_pool_startup(workers: int) -> float:
    """Seconds to start a spawn process pool and run a trivial task on each worker (as the cache build does:
    its workers do not re-import the main module, see data/build.light_main)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from deepfake_lightning.data.build import _worker_init, light_main, pool_ping

    t0 = time.perf_counter()
    with ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init
    ) as pool:
        with light_main():
            futures = [pool.submit(pool_ping, i) for i in range(workers)]
        [f.result() for f in futures]
    return time.perf_counter() - t0
