"""Loss specifications: weighted sums, canonical run names, plugins and their load-time checks."""

from __future__ import annotations

import pytest
import torch

from losses import LOSSES, CompositeLoss, LossSpecError, build_loss, loss_class, loss_run_name
from losses.catalog import format_catalog
from losses.plugins import PluginError
from losses.recipes import RECIPES, recipe_rows
from losses.spec import parse_spec


def inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 2, 12, 12, generator=g, dtype=torch.float64, requires_grad=True)
    target = (torch.rand(2, 12, 12, generator=g) > 0.7).long()
    return logits, target, {"class_weight": torch.tensor([[1.0, 2.0], [1.0, 3.0]], dtype=torch.float64)}


def test_a_sum_equals_the_weighted_sum_of_its_terms_value_and_gradient():
    logits, target, maps = inputs()
    value = build_loss("ce + 0.5*dice + focal[gamma=2.5]")(logits, target, maps)
    (grad,) = torch.autograd.grad(value, logits)
    want = (
        build_loss("ce")(logits, target, maps)
        + 0.5 * build_loss("dice")(logits, target, maps)
        + build_loss("focal", gamma=2.5)(logits, target, maps)
    )
    (want_grad,) = torch.autograd.grad(want, logits)
    assert value.item() == pytest.approx(want.item(), rel=1e-12)
    assert torch.allclose(grad, want_grad, rtol=1e-12, atol=1e-15)


def test_sum_declares_the_union_of_maps_and_class_weights_and_forwards_the_epoch():
    loss = build_loss("ce+wce+skea_topo")
    assert isinstance(loss, CompositeLoss)
    assert loss.required_maps == ("wce", "skea_topo") and loss.needs_class_weight
    loss.set_epoch(7)
    assert [part.epoch for part in loss.parts] == [7, 7, 7]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ce+dice", "dice + ce"),
        ("ce+dice", "1*ce+1.0*dice"),
        ("focal[gamma=2]", "focal[gamma=2.0]"),
        ("spw+use_prediction=False", "spw[use_prediction=false]"),
        ("bce", "balanced_ce"),
        ("0.5*dice+ce", "ce + 0.50*dice"),
    ],
)
def test_one_loss_written_two_ways_has_one_run_name(a, b):
    assert loss_run_name(a) == loss_run_name(b)


def test_canonical_names_keep_the_historic_single_loss_form():
    assert loss_run_name("spw", {"use_prediction": False}) == "spw+use_prediction=False"
    assert loss_run_name("ce") == "ce"
    assert loss_run_name("dice+ce") == "ce+dice"
    assert loss_run_name("2*ce + dice") == "2*ce+dice"
    assert loss_run_name("ce+focal[gamma=2.5]") == "ce+focal[gamma=2.5]"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "non-empty"),
        ("ce++dice", "cannot parse term ''"),
        ("ce+-1*dice", "cannot parse term|positive"),
        ("0*ce", "finite positive"),
        ("inf*ce", "finite positive"),
        ("x*ce", "not a number"),
        ("focal[gamma]", "key=value"),
        ("focal[gamma=1,gamma=2]", "twice"),
        ("ce+ce", "appears twice"),
        ("dcie", "Did you mean 'dice'"),
        ("focal[gama=2]", "no parameter 'gama'"),
        ("focal[gamma=abc]", "expects a float"),
        ("ce;import os", "cannot parse"),
    ],
)
def test_bad_specifications_give_clear_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        build_loss(spec)


def test_keywords_apply_to_a_single_term_only():
    assert build_loss("focal", gamma=3.0).gamma == 3.0
    with pytest.raises(LossSpecError, match="terms"):
        build_loss("ce+dice", gamma=3.0)
    assert loss_class("ce+dice") is None and loss_class("focal") is LOSSES["focal"]


def test_plugin_class_by_path_is_used_as_it_is():
    logits, target, maps = inputs()
    loss = build_loss("tests.plugins.example:MyLoss[alpha=0.5]")
    assert type(loss).__name__ == "MyLoss" and loss.alpha == 0.5
    assert (
        loss_run_name("tests.plugins.example:MyLoss[alpha=0.5]") == "tests.plugins.example:MyLoss+alpha=0.5"
    )
    assert torch.isfinite(loss(logits, target, maps))


def test_plugin_function_is_wrapped_and_composes():
    logits, target, maps = inputs()
    value = build_loss("tests.plugins.example:plain_ce + dice")(logits, target, maps)
    from tests.plugins.example import plain_ce

    want = plain_ce(logits, target) + build_loss("dice")(logits, target, maps)
    assert value.item() == pytest.approx(want.item(), rel=1e-12)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("tests.plugins.example:not_a_scalar", "scalar"),
        ("tests.plugins.example:no_gradient", "no gradient"),
        ("tests.plugins.example:infinite", "non-finite"),
        ("tests.plugins.example:NOT_CALLABLE", "not a SegLoss"),
        ("tests.plugins.example:missing", "has no attribute"),
        ("tests.plugins.nowhere:X", "cannot import"),
        ("tests.plugins.example:plain_ce[alpha=1]", "no keyword"),
    ],
)
def test_broken_plugins_are_rejected_on_load(path, message):
    with pytest.raises(PluginError, match=message):
        build_loss(path)


def test_recipes_parse_and_list():
    for spec in RECIPES.values():
        assert parse_spec(spec)
    rows = recipe_rows(LOSSES)
    assert all(name == loss_run_name(name) for name in rows)  # keyed by the run-folder name
    assert rows.get("dice+hausdorff_dt") == "Hausdorff-DT + Dice"
    text = format_catalog(LOSSES, {"ce": "CE"}, rows)
    assert "ce [CE]  (built-in)" in text and all(name in text for name in LOSSES)
