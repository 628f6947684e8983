"""make bench: training, extraction, inference and memory figures as ratios inside one run; writes bench.json."""

from __future__ import annotations

import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from benchmarks import measures
from deepfake_lightning.apps.common import offline_defaults
from deepfake_lightning.data.synthetic import generate_dataset
from deepfake_lightning.data.video import read_frames
from deepfake_lightning.models.ensemble import EnsembleModule
from deepfake_lightning.models.loading import build_classifier

log = logging.getLogger(__name__)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    info: dict[str, Any] = {
        "cpu_count": torch.get_num_threads(),
        "platform": platform.platform(),
        "torch": torch.__version__,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def bench_training(cfg: DictConfig, work: Path, device: str) -> dict[str, Any]:
    b = cfg.bench
    cache = measures.synthetic_cache(work / "train-cache", int(b.train_frames), int(b.image_size), int(cfg.seed))
    data_cfg = measures.cache_overrides(cache, int(b.image_size), int(b.batch_size)) + [
        f"data.num_workers={int(b.num_workers)}",
        f"data.pin_memory={str(device == 'cuda' and bool(b.get('pin_memory', True))).lower()}",
        f"data.persistent_workers={str(int(b.num_workers) > 0).lower()}",
    ]
    model_cfg = OmegaConf.merge(cfg.model, {"input_size": int(b.input_size)})
    trainer_kw = {"accelerator": "gpu" if device == "cuda" else "cpu", "devices": 1, "precision": str(b.precision)}
    steps, warm = int(b.steps), int(b.warmup)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    project = measures.project_train_rate(model_cfg, data_cfg, trainer_kw, steps, warm)
    out = {"project_img_per_s": project}
    if device == "cuda":
        out["cuda_max_memory_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
    raw = measures.raw_train_rate(
        model_cfg, int(b.batch_size), int(b.input_size), steps, warm, device, str(b.precision)
    )
    out.update({"raw_img_per_s": raw, "train_ratio": project / raw, "target": float(b.train_ratio_target)})
    out["settings"] = {
        "batch": int(b.batch_size),
        "input_size": int(b.input_size),
        "precision": str(b.precision),
        "num_workers": int(b.num_workers),
        "compile": bool(cfg.model.compile),
        "frozen": OmegaConf.to_container(cfg.model.net, resolve=True).get("freeze_layers"),
    }
    if b.get("pseudo_fakes_compare"):
        # Self-blended pseudo-fakes made on the device for half of each batch, against the same run without.
        sbi = measures.project_train_rate(
            model_cfg, [*data_cfg, "data.pseudo_fakes=sbi", "data.pseudo_fake_ratio=0.5"], trainer_kw, steps, warm
        )
        out["pseudo_fakes_img_per_s"] = sbi
        out["pseudo_fakes_ratio"] = sbi / project
        out["pseudo_fakes_target"] = 0.85
    if b.get("compile_compare") and not cfg.model.compile:
        compiled = measures.project_train_rate(
            OmegaConf.merge(model_cfg, {"compile": True}), data_cfg, trainer_kw, steps, warm
        )
        out["project_compiled_img_per_s"] = compiled
        out["compile_speedup"] = compiled / project
    return out


def bench_extraction(cfg: DictConfig, work: Path) -> dict[str, Any]:
    e = cfg.bench.extraction
    out: dict[str, Any] = {}
    folders = {}
    for n_frames in (int(e.frames), 2 * int(e.frames)):
        root = work / f"videos-{n_frames}"
        generate_dataset(
            root,
            num_real=int(e.videos),
            num_fake=1,
            num_identities=2,
            frames_per_video=n_frames,
            resolution=int(e.resolution),
            test_fraction=0.0,
            seed=int(cfg.seed),
        )
        folders[n_frames] = sorted((root / "Celeb-real").glob("*.mp4")) + sorted((root / "YouTube-real").glob("*.mp4"))
    base = folders[int(e.frames)]
    for k in (1, 32):
        out[f"k{k}"] = measures.extraction_rates(base, k, int(cfg.bench.image_size))
    t1 = measures.extraction_rates(base, 1, int(cfg.bench.image_size))["project_videos_per_s"]
    t2 = measures.extraction_rates(folders[2 * int(e.frames)], 1, int(cfg.bench.image_size))["project_videos_per_s"]
    out["k1_time_per_video_ratio_when_length_doubles"] = t1 / t2
    out["video_frames"] = int(e.frames)
    out["videos"] = len(base)
    return out


def bench_faces(cfg: DictConfig) -> dict[str, Any]:
    """Haar vs dlib on real faces (Debian's opencv-doc photos and Megamind.avi) and their hard variants."""
    f = cfg.bench.faces
    frames = []
    for p in f.images:
        img = cv2.imread(str(p)) if Path(str(p)).is_file() else None
        if img is not None:
            frames.append(img)
    for p in f.videos:
        if Path(str(p)).is_file():
            frames += [fr for _, fr in read_frames(p, int(f.video_frames))]
    if not frames:
        return {"skipped": f"none of {list(f.images) + list(f.videos)} exists (apt-get install opencv-doc)"}
    table = measures.face_detection_table(frames)
    table["sources"] = [str(p) for p in list(f.images) + list(f.videos) if Path(str(p)).is_file()]
    return table


def bench_parallel_extraction(cfg: DictConfig, work: Path) -> dict[str, Any]:
    """files/s of the cache build with 1 and 2 workers on 1280x720 H.264 videos (K=1 and K=32), and an
    estimate for Celeb-DF v2 (6,229 videos) on 16 cores from the measured per-worker rate and scaling."""
    e = cfg.bench.parallel
    base = None
    for p in cfg.bench.faces.images:
        if Path(str(p)).is_file():
            base = cv2.imread(str(p))
    root = work / "h264"
    (root / "Celeb-real").mkdir(parents=True)
    for i in range(int(e.videos)):
        measures.write_h264(root / "Celeb-real" / f"id{i}_0000.mp4", int(e.frames), (1280, 720), base)
    from deepfake_lightning.data.build import build_cache
    from deepfake_lightning.data.extract import packaged_extract_config
    from deepfake_lightning.data.layouts.celebdf import list_celebdf

    items = list_celebdf(root)
    startup = measures.process_pool_startup(2)  # paid once per build: workers re-import the app's main module
    out: dict[str, Any] = {
        "videos": len(items),
        "frames_per_video": int(e.frames),
        "size": "1280x720 H.264",
        "pool_startup_s": startup,
    }
    for k in (1, 32):
        rates, steady = {}, {}
        for workers in (1, 2):
            cfg_x = packaged_extract_config(
                frames_per_video=k, image_size=int(cfg.bench.image_size), face_detector="dlib"
            )
            t0 = time.perf_counter()
            build_cache(root, items, cfg_x, work / f"cache-k{k}-w{workers}", workers=workers, chunk_files=1)
            dt = time.perf_counter() - t0
            rates[workers] = len(items) / dt
            steady[workers] = len(items) / max(dt - (startup if workers > 1 else 0.0), 1e-9)
        scaling = steady[2] / (2 * steady[1])
        est = 6229 / (16 * steady[1] * min(scaling, 1.0)) + startup
        out[f"k{k}"] = {
            "files_per_s_1_worker": rates[1],
            "files_per_s_2_workers": rates[2],
            "files_per_s_2_workers_after_startup": steady[2],
            "scaling_2_workers_after_startup": scaling,
            "celebdf_6229_videos_16_cores_minutes_estimate": est / 60,
        }
    return out


def bench_contention(cfg: DictConfig, work: Path) -> dict[str, Any]:
    """Training beside a busy process, two trainings at once, and a 2-job joblib multirun (benchmarks/contention.py)."""
    from benchmarks.contention import multirun_wall, training_under_contention

    c = cfg.bench.contention
    cache = measures.synthetic_cache(work / "contention-cache", int(c.frames), int(cfg.bench.image_size), int(cfg.seed))
    out = training_under_contention(str(cache), int(c.steps), int(c.warmup), int(cfg.bench.input_size),
                                    int(cfg.bench.batch_size))  # fmt: skip
    root = work / "contention-data"
    generate_dataset(root, seed=int(cfg.seed), **dict(c.multirun.dataset))
    out["multirun"] = multirun_wall(root, work / "contention-data-cache", work / "multirun", list(c.multirun.overrides))
    out["machine_load_before"] = list(os.getloadavg())
    return out


def bench_inference(cfg: DictConfig, device: str) -> dict[str, Any]:
    import torch.utils.benchmark as benchmark  # here: its import warns about CUDA_HOME on a CPU machine

    b = cfg.bench
    general = build_classifier(cfg.model, input_size=int(b.input_size), compile=False).eval().to(device)
    specialist = build_classifier(cfg.model, input_size=int(b.input_size), compile=False).eval().to(device)
    ens = EnsembleModule(general, specialist, 0.5).eval().to(device)  # any weight: only its time is measured
    x = torch.randint(
        0, 256, (int(b.infer_batch), 3, int(b.image_size), int(b.image_size)), dtype=torch.uint8, device=device
    )
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(str(b.precision))

    def rate(fn) -> float:
        def step() -> None:
            with (
                torch.inference_mode(),
                torch.autocast(device_type=device, dtype=dtype or torch.float32, enabled=dtype is not None),
            ):
                fn()

        for _ in range(int(b.warmup)):
            step()
        # torch.utils.benchmark synchronises CUDA around the timed block and fixes the thread count.
        m = benchmark.Timer(stmt="step()", globals={"step": step}).timeit(int(b.infer_steps))
        return int(b.infer_batch) / m.median

    def separate():
        xg = general.preprocess(x)
        return torch.softmax(0.6 * general(xg) + 0.4 * specialist(specialist.preprocess(x)), 1)

    fused = rate(lambda: ens.p_fake(x))
    two = rate(separate)
    out = {"fused_img_per_s": fused, "two_calls_img_per_s": two, "ratio": fused / two}
    if b.get("compile_compare"):
        for member in (ens.general, ens.specialist):
            member.compile_net()
        out["fused_compiled_img_per_s"] = rate(lambda: ens.p_fake(x))
    return out


def bench_memory(cfg: DictConfig, work: Path) -> dict[str, Any]:
    m = cfg.bench.memory
    small, factor = int(m.frames), int(m.factor)
    size = int(cfg.bench.image_size)
    res = {}
    for n in (small, small * factor):
        cache = measures.synthetic_cache(work / f"mem-{n}", n, size, int(cfg.seed))
        res[n] = measures.peak_rss_of_training(
            cache, size, int(cfg.bench.input_size), int(cfg.bench.batch_size), int(m.steps)
        )
    return {
        "frames": [small, small * factor],
        "cache_mib": [small * size * size * 3 / 2**20, small * factor * size * size * 3 / 2**20],
        "peak_rss_mib": [res[small], res[small * factor]],
        "growth": res[small * factor] / res[small] - 1.0,
        "target_growth_below": 0.25,
    }


def run(cfg: DictConfig) -> dict[str, Any]:
    offline_defaults()
    torch.manual_seed(int(cfg.seed))
    device = "cuda" if torch.cuda.is_available() and cfg.bench.device != "cpu" else "cpu"
    result: dict[str, Any] = {
        "machine": machine(),
        "device": device,
        "config": OmegaConf.to_container(cfg.bench, resolve=True),
    }
    with tempfile.TemporaryDirectory(prefix="dfl-bench-") as tmp:
        work = Path(tmp)
        for part in cfg.bench.parts:
            t0 = time.perf_counter()
            log.info("bench: %s", part)
            if part == "training":
                result["training"] = bench_training(cfg, work, device)
            elif part == "extraction":
                result["extraction"] = bench_extraction(cfg, work)
            elif part == "inference":
                result["inference"] = bench_inference(cfg, device)
            elif part == "memory":
                result["memory"] = bench_memory(cfg, work)
            elif part == "faces":
                result["faces"] = bench_faces(cfg)
            elif part == "parallel_extraction":
                result["parallel_extraction"] = bench_parallel_extraction(cfg, work)
            elif part == "contention":
                result["contention"] = bench_contention(cfg, work)
            else:
                raise ValueError(f"bench.parts: unknown part {part!r}")
            result.setdefault("seconds", {})[part] = time.perf_counter() - t0
    measures.dump(result, Path(cfg.bench.output))
    print(json.dumps(result, indent=2))
    return result


@hydra.main(version_base="1.3", config_path="conf", config_name="bench")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
