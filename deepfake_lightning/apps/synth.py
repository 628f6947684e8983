"""dfl-synth: write the embedded Celeb-DF v2 style dataset from `deepfake_lightning/conf/synth.yaml`."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from deepfake_lightning.apps.common import CONFIG_PATH, app_start, run_app
from deepfake_lightning.data.synthetic import generate_dataset

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict[str, int]:
    """Generate the dataset unless a complete one with the same settings is already there."""
    app_start(cfg)
    out = Path(cfg.out_dir)
    params = OmegaConf.to_container(cfg.synth, resolve=True)
    params["seed"] = int(cfg.seed)
    stamp = out / ".dfl-synth.yaml"
    if stamp.is_file() and not cfg.overwrite and OmegaConf.to_container(OmegaConf.load(stamp)) == params:
        log.info("synth: %s is up to date with these settings, reusing it", out)
        print(f"dataset up to date, reusing {out}")
        return {}
    if out.exists():
        for sub in ("Celeb-real", "YouTube-real", "Celeb-synthesis", "original_sequences", "manipulated_sequences",
                    "splits", "dfdc_train_part_0"):  # fmt: skip
            shutil.rmtree(out / sub, ignore_errors=True)
        stamp.unlink(missing_ok=True)
    counts = generate_dataset(out, **params)
    OmegaConf.save(OmegaConf.create(params), stamp)
    print(f"wrote {counts} to {out}")
    return counts


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="synth")
def main(cfg: DictConfig) -> None:
    return run_app(cfg, run)


if __name__ == "__main__":
    main()
