"""dfl-chain: the whole chain (extract, train x3, ensemble, Grad-CAM, report) as one Hydra job, for sweeps.

`dfl-chain -m hparams_search=backbone_sweep data_root=...` runs it once per backbone; the sweep's
summary (per backbone: baseline@0.5 vs ensemble@val-threshold with intervals, parameters, img/s) is
written by a Hydra callback when the multirun ends.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from deepfake_lightning.apps.common import app_start, hydra_app, run_app
from deepfake_lightning.pipeline import applies_to, chain, extract
from deepfake_lightning.results import load_metrics


def run(cfg: DictConfig) -> dict:
    """One chain into cfg.out_dir (with model.net.arch=cfg.arch for the three trainings, when given)."""
    app_start(cfg)
    root, out = Path(str(cfg.data_root)).resolve(), Path(str(cfg.out_dir)).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"data_root={root} is not a folder")
    overrides = [str(o) for o in cfg.get("overrides") or []]

    def for_app(config_name: str) -> list[str]:
        return [o for o in overrides if applies_to(o, config_name)]

    split_file = extract(root, out, str(cfg.profile), for_app)
    arch = [f"model.net.arch={cfg.arch}"] if cfg.get("arch") else []  # null: the profile's experiments' own
    chain(root, out, split_file, str(cfg.profile), for_app, False, bool(cfg.no_yolo), int(cfg.seed), arch)
    return load_metrics(out)


@hydra_app("chain")
def main(cfg: DictConfig) -> float | None:
    return run_app(cfg, run, lambda m: m["models"]["ensemble"]["val"]["balanced_accuracy"])


if __name__ == "__main__":
    main()
