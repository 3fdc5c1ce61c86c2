"""Profiles, overrides, typed --loss-kwargs, run names, checkpoints and RNG states (no training)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from common.run_folder import RunId, run_name
from data.processed import processed_root, resolve_split_seed
from losses import LOSSES
from losses.base import SegLoss
from training.checkpoint import (
    capture_rng_states,
    load_checkpoint,
    restore_rng_states,
    save_checkpoint,
    write_csv,
)
from training.config import (
    PROFILES,
    load_profile,
    normalize_crop,
    parse_loss_kwargs,
    parse_scalar,
    resolve_recipe,
)
from training.distributed import DistInfo, env_dist_info


class _Toy(SegLoss):
    """A constructor with one parameter of each kind the parser must handle."""

    def __init__(self, gamma: float = 2.0, radius: int = 3, use_prediction: bool = True, mode: str = "a"):
        super().__init__()


def test_paper_profile_is_paper_spec_section_6():
    assert resolve_recipe(load_profile("paper"), {}) == {
        "epochs": 50,
        "batch_size": 10,
        "lr": 1e-4,
        "lr_step": 10,
        "lr_gamma": 0.8,
        "clip_grad_norm": 5.0,
        "width": 64,
        "crop": None,
        "val_every": 1,
    }


@pytest.mark.parametrize("name", PROFILES)
def test_every_profile_loads(name):
    recipe = load_profile(name)
    assert recipe["epochs"] >= 1 and recipe["width"] >= 1


def test_cpu_profile_is_the_reduced_recipe():
    recipe = load_profile("cpu")
    assert (recipe["width"], recipe["batch_size"], recipe["lr"], recipe["crop"], recipe["epochs"]) == (
        12,
        4,
        2e-3,
        [192, 192],
        25,
    )


def test_overrides_win_and_none_keeps_the_profile():
    recipe = resolve_recipe(load_profile("paper"), {"epochs": 3, "lr": None, "crop": [64, 96], "width": 8})
    assert (recipe["epochs"], recipe["lr"], recipe["crop"], recipe["width"]) == (3, 1e-4, [64, 96], 8)


def test_bad_profile_names_the_file_and_key(tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "epochs: 0\nbatch_size: 2\nlr: 1\nlr_step: 1\nlr_gamma: 0.5\n"
        "clip_grad_norm: 5\nwidth: 4\ncrop: null\nval_every: 1\n"
    )
    with pytest.raises(ValueError, match=r"bad\.yaml: epochs must be >= 1"):
        load_profile("bad", tmp_path)
    (tmp_path / "short.yaml").write_text("epochs: 1\n")
    with pytest.raises(ValueError, match=r"short\.yaml: .*missing \['batch_size'"):
        load_profile("short", tmp_path)
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_profile("nope", tmp_path)


@pytest.mark.parametrize(
    "value,expected", [([192], [192, 192]), ([64, 96], [64, 96]), (None, None), (32, [32, 32])]
)
def test_normalize_crop(value, expected):
    assert normalize_crop(value, "--crop") == expected


@pytest.mark.parametrize("value", [[0], [1, 2, 3], ["a"], [True]])
def test_normalize_crop_rejects(value):
    with pytest.raises(ValueError, match="--crop"):
        normalize_crop(value, "--crop")


@pytest.mark.parametrize(
    "text,expected",
    [("true", True), ("False", False), ("3", 3), ("-2", -2), ("0.5", 0.5), ("1e-3", 1e-3), ("abc", "abc")],
)
def test_parse_scalar_types_without_eval(text, expected):
    value = parse_scalar(text)
    assert value == expected and type(value) is type(expected)


def test_parse_scalar_never_evaluates_code():
    assert parse_scalar("__import__('os').getcwd()") == "__import__('os').getcwd()"


def test_loss_kwargs_typed_against_the_constructor():
    kwargs = parse_loss_kwargs(["gamma=2", "radius=5", "use_prediction=false", "mode=b"], "toy", _Toy)
    assert kwargs == {"gamma": 2.0, "radius": 5, "use_prediction": False, "mode": "b"}
    assert type(kwargs["gamma"]) is float


@pytest.mark.parametrize(
    "items,match",
    [
        (["nope=1"], r"no parameter 'nope'; accepted keys: gamma, radius, use_prediction, mode"),
        (["gamma"], "key=value"),
        (["gamma=1", "gamma=2"], "given twice"),
        (["use_prediction=1"], "expects true/false"),
        (["radius=2.5"], "expects an int"),
        (["gamma=abc"], "expects a float"),
    ],
)
def test_bad_loss_kwargs_are_errors(items, match):
    with pytest.raises(ValueError, match=match):
        parse_loss_kwargs(items, "toy", _Toy)


def test_loss_without_parameters_says_so():
    with pytest.raises(ValueError, match="accepted keys: none"):
        parse_loss_kwargs(["x=1"], "ce", LOSSES["ce"])


def test_run_name_sorts_keys_and_plain_without_kwargs(tmp_path):
    assert run_name("spw", {}) == "spw"
    assert run_name("tversky", {"beta": 0.5, "alpha": 0.5}) == "tversky+alpha=0.5,beta=0.5"
    assert run_name("spw", {"use_prediction": False}) == "spw+use_prediction=False"
    run_id = RunId("drive", "ce", 3, 1)
    assert run_id.folder(tmp_path) == tmp_path / "drive" / "ce" / "seed3" / "fold1"
    assert RunId.from_folder(run_id.folder(tmp_path)) == run_id


def test_rng_states_round_trip_through_a_checkpoint(tmp_path):
    random.seed(1)
    np.random.seed(1)  # noqa: NPY002 - the global generator is what the checkpoint must restore
    torch.manual_seed(1)
    np.random.standard_normal()  # noqa: NPY002 - leave a cached Gaussian in the state
    save_checkpoint(tmp_path / "c.pt", {"rng": capture_rng_states(), "epoch": 4})
    expected = (random.random(), np.random.random(), torch.rand(3))  # noqa: NPY002
    random.seed(99)
    np.random.seed(99)  # noqa: NPY002
    torch.manual_seed(99)
    ckpt = load_checkpoint(tmp_path / "c.pt")
    restore_rng_states(ckpt["rng"])
    assert ckpt["epoch"] == 4
    got = (random.random(), np.random.random(), torch.rand(3))  # noqa: NPY002
    assert got[0] == expected[0] and got[1] == expected[1] and torch.equal(got[2], expected[2])
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left behind


def test_load_checkpoint_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="last.pt"):
        load_checkpoint(tmp_path / "last.pt")


def test_write_csv_rejects_unknown_columns_and_keeps_old_file(tmp_path):
    path = tmp_path / "log.csv"
    write_csv(path, ["a", "b"], [{"a": 1, "b": 2}])
    with pytest.raises(ValueError):
        write_csv(path, ["a"], [{"a": 1, "b": 2}])
    assert path.read_text().splitlines() == ["a,b", "1,2"]
    assert [p.name for p in tmp_path.iterdir()] == ["log.csv"]


def test_env_dist_info_reads_torchrun_variables():
    assert env_dist_info({}) == DistInfo(0, 1, 0)
    info = env_dist_info({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert info.enabled and not info.is_main
    with pytest.raises(ValueError, match="RANK=2, WORLD_SIZE=2"):
        env_dist_info({"RANK": "2", "WORLD_SIZE": "2"})


def _fake_processed(root, splits, maps=()):
    folder = root / "toy"
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_text(json.dumps({"num_samples": 1, "maps": {m: {} for m in maps}}))
    (folder / "splits.json").write_text(json.dumps({"splits": splits}))
    for m in maps:
        (folder / "maps" / m).mkdir(parents=True)
        np.save(folder / "maps" / m / "000.npy", np.zeros((2, 2), np.float32))
    return folder


def test_missing_processed_set_names_the_prepare_command(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"python data/prepare.py --dataset toy --out-root"):
        processed_root(tmp_path, "toy")


def test_missing_map_names_the_prepare_command(tmp_path):
    _fake_processed(tmp_path, {"0": []}, maps=("wce",))
    assert processed_root(tmp_path, "toy", ["wce"]) == tmp_path / "toy"
    with pytest.raises(FileNotFoundError, match=r"\['abw'\].*--maps abw"):
        processed_root(tmp_path, "toy", ["wce", "abw"])


def test_split_seed_follows_seed_when_stored(tmp_path):
    folder = _fake_processed(tmp_path, {"0": [], "3": []})
    assert resolve_split_seed(folder, 3) == 3
    with pytest.raises(ValueError, match=r"split seeds \['0', '3'\] but not 5"):
        resolve_split_seed(folder, 5)


def test_single_split_seed_is_used_for_every_seed(tmp_path):
    assert resolve_split_seed(_fake_processed(tmp_path, {"7": []}), 2) == 7


def test_profile_per_dataset_entries_apply_between_profile_and_flags(tmp_path):
    (tmp_path / "p.yaml").write_text(
        "epochs: 2\nbatch_size: 2\nlr: 1.0e-3\nlr_step: 1\nlr_gamma: 0.5\nclip_grad_norm: 5\nwidth: 4\n"
        "crop: [32, 32]\nval_every: 1\ndatasets:\n  toy:\n    crop: [64, 48]\n    epochs: 3\n"
    )
    profile = load_profile("p", tmp_path)
    assert (
        resolve_recipe(profile, {}, "toy")["crop"] == [64, 48]
        and resolve_recipe(profile, {}, "toy")["epochs"] == 3
    )
    assert resolve_recipe(profile, {}, "other")["crop"] == [32, 32]
    assert resolve_recipe(profile, {"crop": [16, 16]}, "toy")["crop"] == [16, 16]  # flags win
    assert "datasets" not in resolve_recipe(profile, {}, "toy")  # never part of the recorded recipe
    (tmp_path / "bad.yaml").write_text((tmp_path / "p.yaml").read_text().replace("epochs: 3", "epochz: 3"))
    with pytest.raises(ValueError, match=r"datasets.toy: unknown recipe keys \['epochz'\]"):
        load_profile("bad", tmp_path)


def test_cpu_profile_recipes_for_the_new_sets():
    cpu = load_profile("cpu")
    assert resolve_recipe(cpu, {}, "monuseg")["crop"] == [256, 256]
    assert resolve_recipe(cpu, {}, "chase_db1") == resolve_recipe(cpu, {}, "drive")  # DRIVE's recipe
