"""The benchmark harness (benchmarks/, run by `make bench`) composes from its own folder and runs a part."""

import json
from pathlib import Path

from hydra import compose, initialize_config_dir

from benchmarks.bench import run
from tests.helpers import TINY_ARCH

BENCH_CONF = str(Path(__file__).resolve().parents[1] / "benchmarks" / "conf")


def test_inference_part_runs_and_writes_its_ratio(tmp_path):
    with initialize_config_dir(config_dir=BENCH_CONF, version_base="1.3"):
        cfg = compose(
            config_name="bench",
            overrides=[
                "bench.parts=[inference]",
                f"model.net.arch={TINY_ARCH}",
                "bench.infer_batch=4",
                "bench.infer_steps=2",
                "bench.warmup=1",
                f"bench.output={tmp_path / 'bench.json'}",
            ],
        )
    assert cfg.model.net.head == "enhanced"  # the package's model group, found through the search path
    result = run(cfg)
    saved = json.loads((tmp_path / "bench.json").read_text())
    inf = saved["inference"]
    assert inf["fused_img_per_s"] > 0 and inf["two_calls_img_per_s"] > 0
    assert abs(inf["ratio"] - inf["fused_img_per_s"] / inf["two_calls_img_per_s"]) < 1e-9
    assert result["device"] == "cpu"
