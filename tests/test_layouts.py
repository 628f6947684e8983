"""FaceForensics++ and DFDC layouts: listing, labels, grouping, official splits, bad metadata, and cross-dataset eval."""

import json

import numpy as np
import pytest

from deepfake_lightning.data.layouts.dfdc import list_dfdc
from deepfake_lightning.data.layouts.ffpp import list_ffpp, read_ffpp_splits
from deepfake_lightning.data.synthetic import generate_dataset
from tests.conftest import make_dm

SMALL = dict(num_real=10, num_fake=20, num_identities=4, frames_per_video=4, resolution=64)


@pytest.fixture(scope="module")
def ffpp_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ffpp")
    generate_dataset(root, seed=3, layout="ffpp", **SMALL)
    return root


@pytest.fixture(scope="module")
def dfdc_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("dfdc")
    generate_dataset(root, seed=4, layout="dfdc", **SMALL)
    return root


def test_ffpp_listing_labels_and_identities(ffpp_root):
    items, notes = list_ffpp(ffpp_root, "c23")
    assert not notes
    assert sum(it.label == 0 for it in items) == 10 and sum(it.label == 1 for it in items) == 20
    for it in items:
        if it.label == 1:
            target = it.path.split("/")[-1].split("_")[0]
            assert it.identity == f"ff{target}"  # grouped with its target video
    only = list_ffpp(ffpp_root, "c23", ["Deepfakes"])[0]
    n_deepfakes = sum("/Deepfakes/" in it.path for it in items)
    assert all("FaceSwap" not in it.path for it in only) and len(only) == 10 + n_deepfakes < len(items)
    with pytest.raises(ValueError, match="data.methods"):
        list_ffpp(ffpp_root, "c23", ["Nope"])
    assert list_ffpp(ffpp_root, "c40")[0] == []


def test_ffpp_official_split_follows_the_lists(ffpp_root, tmp_path):
    dm = make_dm(ffpp_root, tmp_path, "ffpp", image_size=24, split={"strategy": "official"})
    dm.setup()
    split_of, _ = read_ffpp_splits(ffpp_root)
    idx = dm.cache.index
    for v, s in zip(idx["video"], dm.split):
        stem = v.split("/")[-1][:-4]
        if "manipulated" in v:
            assert s == split_of[stem], v
    assert dm.split_record["strategy"] == "official" and set(dm.split) <= {"train", "val", "test"}


def test_ffpp_malformed_split_list_is_named(ffpp_root, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(ffpp_root, root)
    (root / "splits" / "val.json").write_text("{not json")
    (root / "splits" / "test.json").write_text(json.dumps([["001"], "x"]))
    _, problems = read_ffpp_splits(root)
    reasons = " ".join(p["reason"] for p in problems)
    assert "malformed split list" in reasons and "malformed pair" in reasons
    assert any("val.json" in p["path"] for p in problems)


def test_dfdc_listing_grouping_and_bad_metadata(dfdc_root, tmp_path):
    items, skipped = list_dfdc(dfdc_root)
    assert not skipped and sum(it.label == 1 for it in items) == 20
    meta = json.loads((dfdc_root / "dfdc_train_part_0" / "metadata.json").read_text())
    for it in items:
        name = it.path.split("/")[-1]
        if it.label == 1:
            assert it.identity.endswith(meta[name]["original"][:-4])
    bad = tmp_path / "bad"
    (bad / "part1").mkdir(parents=True)
    (bad / "part2").mkdir()
    (bad / "part1" / "metadata.json").write_text("[oops")
    import shutil

    src = next((dfdc_root / "dfdc_train_part_0").glob("r*.mp4"))
    shutil.copy(src, bad / "part2" / "a.mp4")
    shutil.copy(src, bad / "part2" / "b.mp4")
    (bad / "part2" / "metadata.json").write_text(
        json.dumps(
            {"a.mp4": {"label": "REAL"}, "b.mp4": {"label": "MAYBE"}, "c.mp4": {"label": "FAKE", "original": "a.mp4"}}
        )
    )
    items, skipped = list_dfdc(bad)
    reasons = {s["path"]: s["reason"] for s in skipped}
    assert [it.path for it in items] == ["part2/a.mp4"]
    assert "malformed" in next(r for p, r in reasons.items() if p.endswith("part1/metadata.json"))
    assert "unknown label" in reasons["part2/b.mp4"] and "missing" in reasons["part2/c.mp4"]
    dm = make_dm(bad, tmp_path / "c", "dfdc", image_size=24, split={"strategy": "official"})
    with pytest.raises(ValueError, match="DFDC"):
        dm.setup()


def test_dfdc_grouped_split_keeps_fakes_with_their_original(dfdc_root, tmp_path):
    dm = make_dm(dfdc_root, tmp_path, "dfdc", image_size=24)
    dm.setup()
    idx = dm.cache.index
    for g in np.unique(idx["identity"]):
        assert len(set(dm.split[idx["identity"] == g])) == 1
    assert dm.split_record["leaks"]["identities_in_several_splits"] == 0


def test_train_on_celebdf_evaluate_on_ffpp(tiny_root, ffpp_root, tmp_path):
    from deepfake_lightning.apps.eval import run as run_eval
    from deepfake_lightning.apps.train import train
    from tests.helpers import compose_cfg, tiny_train_overrides

    run = tmp_path / "run"
    train(compose_cfg("train", tiny_train_overrides(tiny_root, tmp_path / "c", "+trainer.fast_dev_run=true"), run))
    out = tmp_path / "eval"
    m = run_eval(compose_cfg("eval", [f"run={run}", "data=ffpp", f"data.root={ffpp_root}",
                                     f"paths.cache_dir={tmp_path / 'c'}", f"out_dir={out}"], out))  # fmt: skip
    assert m["eval"]["counts"]["real"] > 0 and m["eval"]["counts"]["fake"] > 0
    assert (out / "REPORT.md").is_file()


@pytest.mark.parametrize("layout", ["ffpp", "dfdc"])
def test_extract_split_and_train_on_each_layout(layout, ffpp_root, dfdc_root, tmp_path):
    from deepfake_lightning.apps.train import train
    from tests.helpers import compose_cfg, tiny_train_overrides

    root = ffpp_root if layout == "ffpp" else dfdc_root
    extra = ["split=official"] if layout == "ffpp" else []
    overrides = tiny_train_overrides(root, tmp_path / "c", f"data={layout}", "+trainer.fast_dev_run=true", *extra)
    res = train(compose_cfg("train", overrides, tmp_path))
    assert res["dataset"]["split"]["strategy"] == ("official" if layout == "ffpp" else "grouped")
    assert (tmp_path / "split.json").is_file()


def test_a_new_layout_is_one_module_named_by_data_layout(tiny_root, tmp_path, monkeypatch):
    """Issue 29: a layout of one's own is one module (its Layout subclass) named by data.layout, with its own keys;
    nothing else in the package changes. A key no part of the data config reads is refused, naming it."""
    from deepfake_lightning.data.datamodule import FrameCacheDataModule, data_blocks
    from deepfake_lightning.data.layouts import layout_class, names

    (tmp_path / "my_layouts").mkdir()
    (tmp_path / "my_layouts" / "__init__.py").write_text("")
    (tmp_path / "my_layouts" / "reals_only.py").write_text(
        "from deepfake_lightning.data.layouts.celebdf import CelebDF\n"
        "class RealsOnly(CelebDF):\n"
        "    def __init__(self, keep: int):\n"
        "        super().__init__(None)\n"
        "        self.keep = keep\n"
        "    def list_items(self, root, strategy):\n"
        "        items, skipped = super().list_items(root, strategy)\n"
        "        return [it for it in items if it.label == 0][: self.keep], skipped\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from omegaconf import OmegaConf

    from deepfake_lightning.config import compose_app

    over = [f"data.root={tiny_root}", f"paths.cache_dir={tmp_path / 'c'}", "data.extract.image_size=32"]
    keys = OmegaConf.to_container(compose_app("extract", over).data, resolve=True)
    dm = FrameCacheDataModule(**data_blocks({**keys, "layout": "my_layouts.reals_only", "keep": 5}))
    assert [it.label for it in dm.source.list_items()[0]] == [0] * 5
    assert names() == ["celebdf", "dfdc", "ffpp", "frames"] and layout_class("ffpp").name == "ffpp"
    with pytest.raises(ValueError, match="data.layout=nope: no such layout .*celebdf, dfdc, ffpp, frames"):
        data_blocks({**keys, "layout": "nope"})
    with pytest.raises(ValueError, match=r"data.test_list=x.txt: the ffpp layout does not read it"):
        data_blocks({**keys, "layout": "ffpp", "compression": "c23", "methods": None, "test_list": "x.txt"})
    del keys["batch_size"]
    with pytest.raises(ValueError, match="data.batch_size: missing"):
        data_blocks(keys)
    # dfl-synth writes a layout through its module's from_celebdf, and refuses one without it before writing.
    for name, says in (("nope", "synth.layout=nope: no such layout"), ("frames", "cannot write this layout")):
        with pytest.raises(ValueError, match=says):
            generate_dataset(tmp_path / name, layout=name, **SMALL)
        assert not (tmp_path / name).exists()
