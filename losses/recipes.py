"""The official training recipes of the newer losses, as benchmark rows (weighted sums of this suite's terms).

Each recipe is a loss specification (:mod:`losses.spec`) built from the suite's own CE and Dice
(the paper's two-class Dice, not nnU-Net's or MONAI's variants), with the weights the official
trainers use (docs/MODERN_LOSSES.md). The run name of a row is the specification's canonical form;
the label says what was combined.
"""

from __future__ import annotations

#: row label → specification, in table order. Rows whose losses are not registered are skipped.
RECIPES: dict[str, str] = {
    "Lovász": "lovasz",  # Berman et al.: Lovász-softmax alone (or CE then Lovász fine-tuning)
    "Boundary (GDL+SL, rebalanced)": "boundary",  # Kervadec et al.: α·GDL + (1−α)·SL, α = max(1 − 0.01·epoch, 0.01)
    "Hausdorff-DT + Dice": "hausdorff_dt+dice",  # Karimi & Salcudean combine it with Dice (weight 1 here)
    "CE + Dice + SkelRecall": "ce+dice+skeleton_recall",  # nnUNetTrainerSkeletonRecall: 1·CE + 1·Dice + 1·SR
    "2·CE + Dice + cbDice": "2*ce+dice+cbdice",  # nnUNetTrainer_CE_DC_CBDC: weight_ce = 2, dice 1, cbdice 1
    "Dice + clCE": "dice+clce",  # retina experiments (FIVES): Dice + 1.0·clCE
    "Dice + 0.5·Betti matching": "dice+0.5*betti_matching",  # DiceBettiMatchingLoss, ALPHA 0.5
}


def recipe_labels() -> dict[str, str]:
    """Canonical run name → label of every recipe (registered or not)."""
    from .spec import canonical, parse_spec

    return {canonical(parse_spec(spec)): label for label, spec in RECIPES.items()}


def recipe_rows(registered) -> dict[str, str]:
    """Recipes whose every term is registered: canonical run name → label."""
    from .spec import canonical, parse_spec

    out = {}
    for label, spec in RECIPES.items():
        terms = parse_spec(spec)
        if all(t.name in registered for t in terms):
            out[canonical(terms)] = label
    return out
