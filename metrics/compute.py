"""The per-image entry point ``compute_metrics`` (docs/ARCHITECTURE.md §5) and the metric column table.

Every data set gets the paper's metrics; each data-set family adds the metrics its community
reports, where their inputs exist (docs/BASELINES.md §4.2-§4.6).
"""

from __future__ import annotations

from ._checks import as_binary_mask, as_label_image, as_probability, check_same_shape
from .connectomics import adapted_rand_error
from .contingency import label_class0, label_class1
from .distance import PairDistances
from .instances import instance_metrics
from .objects import object_metrics
from .paper import paper_metrics
from .pixel import fov_metrics
from .topology import _betti_errors, _cldice, _hd95

#: Metric families: each data-set record names one (``data.registry``); the family decides which
#: challenge metrics a test image gets. ``drive``: retinal vessels with a field of view;
#: ``glas``: glands as objects; ``em``: electron-microscopy membranes;
#: ``nuclei``: histology nuclei as instances (MoNuSeg).
FAMILIES: tuple[str, ...] = ("drive", "glas", "em", "nuclei")

#: Families whose class 1 is a thin structure (vessels, membranes): clDice and Betti errors apply.
THIN_FAMILIES = frozenset({"drive", "em"})

#: Column name → definition and source of every value ``compute_metrics`` can return.
METRIC_DESCRIPTIONS: dict[str, str] = {
    "miou": "mean IoU over classes {0,1} of pred = prob > 0.5 (docs/METHOD.md §7); NaN if a class is absent from both maps",
    "mdice": "mean Dice over classes {0,1} (docs/METHOD.md §7); NaN if a class is absent from both maps",
    "vi": "variation of information of the 4-connected class-0 regions, skimage variation_of_information"
    "(gt, pred, ignore_labels=[0]), split + merge in bits; 10 when gt has no class-0 pixel (paper's NaN rule)",
    "vi_split": "H(pred regions | gt regions) in bits, false splits part of vi; NaN when gt has no class-0 pixel",
    "vi_merge": "H(gt regions | pred regions) in bits, false merges part of vi; NaN when gt has no class-0 pixel",
    "ari": "adjusted Rand index (sklearn adjusted_rand_score) of the class-0 region labellings, "
    "class-1 pixels included as one cluster (docs/METHOD.md §7)",
    "mhd": "modified Hausdorff distance (Dubuisson-Jain; skimage hausdorff_distance method='modified') "
    "over all class-1 pixels, in pixels; 0 both empty, inf exactly one empty",
    "hd95_monai": "95th-percentile Hausdorff distance between the class-1 edge pixels (mask XOR erosion), max of the "
    "two directed percentiles (MONAI convention), in pixels; 0 both empty, inf exactly one empty",
    "fov_acc": "DRIVE accuracy inside the FOV mask at prob > 0.5",
    "fov_sens": "DRIVE sensitivity (vessel TPR) inside the FOV mask at prob > 0.5; NaN without vessel in the FOV",
    "fov_spec": "DRIVE specificity (background TNR) inside the FOV mask at prob > 0.5; NaN without background",
    "fov_auc": "DRIVE ROC AUC of the probabilities inside the FOV mask (Mann-Whitney, ties 1/2); NaN for one class",
    "obj_f1": "GlaS detection F1 (official evaluation: majority gt partner with zeros removed, > 50% of it covered "
    "= TP); predicted glands = 4-connected components of predicted class 0 (nuclei family: predicted nuclei = "
    "4-connected components of predicted class 1)",
    "obj_dice": "GlaS object Dice (official evaluation, area-weighted both ways)",
    "obj_hd": "GlaS object Hausdorff (official evaluation, area-weighted both ways, all pixels), in pixels",
    "are_snemi": "adapted Rand error, SNEMI3D/CREMI convention (squared counts, gt label 0 excluded, predicted "
    "class-1 pixels as singletons) of predicted 4-connected class-0 segments vs gt instances "
    "(or gt 4-connected class-0 components without instances); NaN when gt has no segment",
    "aji": "Aggregated Jaccard Index of MoNuSeg (Kumar et al., IEEE TMI 2017; organisers' rule: best-IoU overlapping "
    "partner per gt nucleus, partners may repeat, unpaired gt and never-chosen predictions add their area to the "
    "union); predicted nuclei = 4-connected components of predicted class 1; NaN when neither has a nucleus",
    "pq": "panoptic quality of the nuclei (Kirillov et al., CVPR 2019): pairs with IoU > 0.5 are matches, "
    "PQ = sum IoU / (TP + FP/2 + FN/2); predicted nuclei as for aji; NaN when neither has a nucleus",
    "cldice": "centerline Dice of class 1 with skimage skeletonize (Shit et al. 2021); 1 both empty, 0 one empty",
    "betti0_err": "|beta0(pred) - beta0(gt)|, beta0 = 8-connected class-1 components, whole image",
    "betti1_err": "|beta1(pred) - beta1(gt)|, beta1 = 4-connected class-0 components not touching the border",
}


def compute_metrics(prob, gt, family: str, fov=None, instances=None) -> dict[str, float]:
    """All metrics of one test image (docs/ARCHITECTURE.md §5); definitions in ``METRIC_DESCRIPTIONS``.

    Always: ``miou, mdice, vi, vi_split, vi_merge, ari, mhd`` (paper, on ``pred = prob > 0.5``) and
    ``hd95_monai`` (HD95 in the MONAI convention). Per family:

    - ``drive`` (DRIVE, CHASE_DB1, STARE and their replicas): ``cldice, betti0_err, betti1_err`` on the vessels;
      ``fov_acc, fov_sens, fov_spec, fov_auc`` when ``fov`` is given.
    - ``glas`` (GlaS and its replica): ``obj_f1, obj_dice, obj_hd`` when ``instances`` (gt gland ids)
      is given; the glands are class 0 of the processed targets (class 1 = stroma after the
      paper's inversion), so predicted glands are the 4-connected components of predicted class 0.
    - ``nuclei`` (MoNuSeg and its replica): GlaS's ``obj_f1, obj_dice, obj_hd`` plus ``aji, pq`` when
      ``instances`` (gt nucleus ids) is given; predicted nuclei = 4-connected components of predicted class 1.
    - ``em`` (SNEMI3D, ISBI 2012 and the replica): ``are_snemi``, ground-truth segments =
      ``instances`` when given (SNEMI3D) else the 4-connected class-0 components of ``gt``
      (ISBI 2012); ``cldice, betti0_err, betti1_err`` on the membranes.

    Args:
        prob: float (H, W) class-1 probability in [0, 1].
        gt: binary (H, W) (bool/int/float with values {0, 1}), 1 = class 1.
        family: metric family, one of :data:`FAMILIES` (the data-set record's ``family``).
        fov: optional binary (H, W) field-of-view mask (DRIVE).
        instances: optional non-negative int (H, W) gt instance ids, 0 = none (GlaS, SNEMI3D).

    Returns:
        dict column name → float (per image; averaging is the evaluator's job).

    Raises:
        ValueError: unknown ``family``; wrong ndim, shape mismatch, non-binary ``gt``/``fov``,
            ``prob`` outside [0, 1], negative or non-integer ``instances``.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown metric family {family!r}; expected one of: {', '.join(FAMILIES)}")
    p = as_probability(prob, "prob")
    g = as_binary_mask(gt, "gt")
    check_same_shape(p, g, "prob", "gt")
    if instances is not None:
        instances = as_label_image(instances, "instances")
        check_same_shape(instances, g, "instances", "gt")
    pred = p > 0.5
    # One pair of distance transforms serves both MHD and HD95.
    pair = PairDistances(pred, g) if pred.any() and g.any() else None
    out = paper_metrics(pred, g, pair)
    out["hd95_monai"] = _hd95(pred, g, pair)
    if family == "drive" and fov is not None:
        out.update(fov_metrics(p, g, fov))
    if family == "glas" and instances is not None:
        out.update(object_metrics(label_class0(pred), instances))
    if family == "nuclei" and instances is not None:
        nuclei = label_class1(pred)
        out.update(object_metrics(nuclei, instances))
        out.update(instance_metrics(nuclei, instances))
    if family == "em":
        gt_segments = instances if instances is not None else label_class0(g)
        out["are_snemi"] = adapted_rand_error(gt_segments, label_class0(pred), convention="snemi3d")
    if family in THIN_FAMILIES:
        out["cldice"] = _cldice(pred, g)
        out["betti0_err"], out["betti1_err"] = _betti_errors(pred, g)
    return {key: float(value) for key, value in out.items()}
