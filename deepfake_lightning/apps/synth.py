"""dfl-synth: write the embedded Celeb-DF v2 style dataset from `deepfake_lightning/conf/synth.yaml`."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from deepfake_lightning.apps.common import app_start, hydra_app
from deepfake_lightning.data.layouts import layout_class, names
from deepfake_lightning.data.synthetic import generate_dataset, remove_written

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
        remove_written(out, [layout_class(name) for name in names()])  # what any layout wrote
        stamp.unlink(missing_ok=True)
    print(
        f"dfl-synth: writing {params['num_real']} real and {params['num_fake']} fake videos ({params['frames_per_video']} "
        f"frames of {params['resolution']} px each) to {out}"
        + ("; `synth=demo` writes the small demo set" if params["num_real"] + params["num_fake"] > 2000 else ""),
        flush=True,
    )
    counts = generate_dataset(out, progress=True, **params)
    OmegaConf.save(OmegaConf.create(params), stamp)
    print(f"wrote {counts} to {out}")
    return counts


main = hydra_app("synth", run)


if __name__ == "__main__":
    main()
