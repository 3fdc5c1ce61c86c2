"""The loss contract of ``losses/base.py`` (issue 3), checked on every registered loss.

``build_loss`` by name with a did-you-mean error; every loss validates shapes, dtypes,
values and devices with messages naming both tensors; class weights and declared maps are
required by name; ``set_epoch`` exists everywhere and changes nothing unless the loss has
a schedule.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from losses import LOSSES, MAP_CHANNELS, SegLoss, build_loss
from losses.maps import MAP_GENERATORS

#: Losses with an epoch schedule (Skea-topo's BoRT term from epoch 21 on, docs/METHOD.md §3;
#: boundary's GDL/SL weights, docs/MODERN_LOSSES.md §boundary).
SCHEDULED = {"skea_topo", "boundary"}
H = W = 32  # divisible by 2**4 for SPW, large enough for RMI's 3×3 pooling


def grid_target(batch: int = 2) -> torch.Tensor:
    """Membrane-like int64 ``(B,H,W)``: class-1 lines every 8 px (different phase per image)."""
    t = torch.zeros(batch, H, W, dtype=torch.int64)
    for b in range(batch):
        t[b, b + 3 :: 8, :] = 1
        t[b, :, b + 5 :: 8] = 1
    return t


def inputs_for(loss_cls: type[SegLoss], batch: int = 2, dtype=torch.float32):
    """Valid ``(logits, target, maps)`` for ``loss_cls``: class weights and every declared map."""
    target = grid_target(batch)
    logits = torch.randn(batch, 2, H, W, generator=torch.Generator().manual_seed(0)).to(dtype)
    maps: dict[str, torch.Tensor] = {"class_weight": torch.tensor([[1.0, 3.0]] * batch, dtype=dtype)}
    for name in loss_cls.required_maps:
        per_image = [np.asarray(MAP_GENERATORS[name](t.numpy().astype(bool))) for t in target]
        stacked = torch.from_numpy(np.stack(per_image)).to(dtype)
        maps[name] = stacked.reshape(batch, MAP_CHANNELS[name], H, W)
    return logits, target, maps


NAMES = sorted(LOSSES)


# --------------------------------------------------------------------------- registry


def test_unknown_name_lists_the_losses_and_suggests_the_nearest():
    with pytest.raises(ValueError, match=r"unknown loss 'spww'.*ce.*Did you mean 'spw'\?"):
        build_loss("spww")
    with pytest.raises(ValueError, match="choose from") as info:
        build_loss("zzzzzz")
    assert "Did you mean" not in str(info.value)


def test_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError):
        build_loss("spw", no_such_argument=1)


@pytest.mark.parametrize("name", NAMES)
def test_registry_entries_follow_the_contract(name):
    cls = LOSSES[name]
    assert issubclass(cls, SegLoss)
    assert isinstance(build_loss(name), cls)
    assert set(cls.required_maps) <= set(MAP_CHANNELS)
    assert isinstance(cls.needs_class_weight, bool)


# --------------------------------------------------------------------------- a valid call


@pytest.mark.parametrize("name", NAMES)
def test_valid_call_gives_a_finite_differentiable_scalar(name):
    logits, target, maps = inputs_for(LOSSES[name])
    logits.requires_grad_()
    value = build_loss(name)(logits, target, maps)
    assert value.ndim == 0 and value.dtype == torch.float32 and torch.isfinite(value)
    value.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("name", NAMES)
def test_set_epoch_changes_nothing_unless_scheduled(name):
    logits, target, maps = inputs_for(LOSSES[name])
    loss = build_loss(name)
    before = loss(logits, target, maps)
    loss.set_epoch(30)
    assert loss.epoch == 30
    after = loss(logits, target, maps)
    if name in SCHEDULED:
        assert not torch.equal(before, after)
    else:
        assert torch.equal(before, after)
    with pytest.raises(ValueError, match="epoch"):
        loss.set_epoch(-1)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("name", NAMES)
def test_bad_shapes_dtypes_values_and_devices_are_named(name):
    cls = LOSSES[name]
    logits, target, maps = inputs_for(cls)
    loss = build_loss(name)
    with pytest.raises(ValueError, match=r"\(B,2,H,W\).*\(2, 3, 32, 32\)"):
        loss(torch.zeros(2, 3, H, W), target, maps)
    with pytest.raises(ValueError, match=r"\(B,2,H,W\).*\(2, 32, 32\)"):
        loss(logits[:, 0], target, maps)
    with pytest.raises(TypeError, match="float.*torch.int64"):
        loss(logits.long(), target, maps)
    with pytest.raises(TypeError, match="int64.*torch.float32"):
        loss(logits, target.float(), maps)
    with pytest.raises(ValueError, match=r"target must have shape.*\(2, 32, 32\).*\(2, 32, 31\)"):
        loss(logits, target[..., :-1], maps)
    with pytest.raises(ValueError, match=r"\{0,1\}.*\[0, 2\]"):
        loss(logits, target * 2, maps)
    with pytest.raises(ValueError, match="meta"):
        loss(logits, target.to("meta"), maps)
    with pytest.raises(TypeError, match="torch tensors"):
        loss(logits.numpy(), target, maps)


@pytest.mark.parametrize("name", [n for n in NAMES if LOSSES[n].needs_class_weight])
def test_class_weight_is_required_and_checked(name):
    logits, target, maps = inputs_for(LOSSES[name])
    loss = build_loss(name)
    without = {k: v for k, v in maps.items() if k != "class_weight"}
    with pytest.raises(KeyError, match="class_weight"):
        loss(logits, target, without)
    with pytest.raises(ValueError, match=r"\(B,2\).*\(2, 2\)"):
        loss(logits, target, {**maps, "class_weight": maps["class_weight"][:1]})
    with pytest.raises(ValueError, match="positive"):
        loss(logits, target, {**maps, "class_weight": torch.zeros(2, 2)})


@pytest.mark.parametrize(("name", "map_name"), [(n, m) for n in NAMES for m in LOSSES[n].required_maps])
def test_declared_maps_are_required_and_checked(name, map_name):
    logits, target, maps = inputs_for(LOSSES[name])
    loss = build_loss(name)
    without = {k: v for k, v in maps.items() if k != map_name}
    with pytest.raises(KeyError, match=map_name):
        loss(logits, target, without)
    with pytest.raises(ValueError, match=rf'maps\["{map_name}"\].*shape'):
        loss(logits, target, {**maps, map_name: maps[map_name][..., :-1]})
