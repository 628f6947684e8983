"""GPU smoke test: one training step and the ensemble on CUDA with mixed precision (skipped without CUDA)."""

import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_train_and_predict_on_cuda(tiny_root, tmp_path):
    from deepfake_lightning.apps.train import train
    from tests.helpers import compose_cfg, tiny_train_overrides

    overrides = tiny_train_overrides(tiny_root, tmp_path / "c", "trainer=gpu", "+trainer.fast_dev_run=true")
    res = train(compose_cfg("train", overrides, tmp_path))
    assert res["test"]["support"]["real"] + res["test"]["support"]["fake"] > 0
