"""Run-level statistics on hand-made per-image tables (evaluation/statistics.py).

Expected values come from formulas (exact Wilcoxon null distribution, hand-computed means and ranks)
or from scipy / statsmodels called directly on the same numbers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from evaluation.naming import PAPER_METRICS
from evaluation.statistics import (
    Settings,
    StatisticsError,
    adjust_pvalues,
    bootstrap_means,
    cell_ranks,
    check_images,
    comparison_frame,
    friedman_nemenyi,
    image_cube,
    leaderboard_order,
    minimum_detectable_effect,
    mixed_long,
    mixed_model_p,
    paired_runs,
    percentile_interval,
    rank_stability,
    run_scores,
    variance_decomposition,
)

MIOU, MDICE, VI, ARI = PAPER_METRICS


def images_table(
    run_values: dict[str, np.ndarray],
    dataset: str = "drive",
    seeds=(0, 1, 2),
    folds=(0, 1, 2),
    n_images: int = 3,
) -> pd.DataFrame:
    """Per-image table: ``run_values[name]`` is (seeds, folds, images) for every metric column.

    Fold k of seed s tests images 10k..10k+n-1 (the same for every run name, as a shared split).
    """
    rows = []
    for name, values in run_values.items():
        for si, seed in enumerate(seeds):
            for fi, fold in enumerate(folds):
                for i in range(n_images):
                    v = float(values[si, fi, i])
                    rows.append(
                        {
                            "dataset": dataset,
                            "run_name": name,
                            "seed": seed,
                            "fold": fold,
                            "index": 10 * fold + i,
                            "miou": v,
                            "mdice": v,
                            "vi": v,
                            "ari": v,
                        }
                    )
    return pd.DataFrame(rows)


def random_values(seed: int, shape=(3, 3, 3), scale: float = 0.05) -> np.ndarray:
    return 0.7 + scale * np.random.default_rng(seed).standard_normal(shape)


SETTINGS = Settings(reference="ref", n_boot=300, seed=0)


def test_identical_tables_give_zero_delta_p_one_nothing_significant():
    base = random_values(1)
    images = images_table({"ref": base, "a": base.copy(), "b": base.copy()})
    frame = comparison_frame(
        images, list(PAPER_METRICS), Settings(reference="ref", n_boot=200, mixed_model=True)
    )
    assert len(frame) == 2 * 4
    assert (frame["delta"] == 0).all() and (frame["ci_low"] == 0).all() and (frame["ci_high"] == 0).all()
    for column in ("p_ttest", "p_wilcoxon", "p_image_wilcoxon", "p_adjusted", "p_mixed"):
        assert (frame[column] == 1.0).all(), column
    assert not frame["significant"].any()


def test_better_on_all_nine_runs_exact_wilcoxon_and_ttest_equal_scipy():
    base = random_values(2)
    gain = np.linspace(0.01, 0.09, 9).reshape(3, 3)[..., None]  # better on every run, by different amounts
    images = images_table({"ref": base, "a": base + gain})
    frame = comparison_frame(images, [MIOU, VI], SETTINGS).set_index("metric")
    miou = frame.loc["miou"]
    assert miou["n_runs"] == 9
    assert miou["p_wilcoxon"] == 2 / 2**9 == 0.00390625
    scores = run_scores(images, [MIOU]).set_index(["run_name", "seed", "fold"])["miou"]
    direct = sps.ttest_rel(scores.loc["a"].to_numpy(), scores.loc["ref"].to_numpy())
    assert miou["p_ttest"] == pytest.approx(direct.pvalue, rel=1e-12)
    assert miou["t"] == pytest.approx(direct.statistic, rel=1e-12)
    assert miou["delta"] == pytest.approx(0.05)  # mean of linspace(0.01, 0.09, 9)
    assert miou["p_shapiro"] == pytest.approx(sps.shapiro(np.linspace(0.01, 0.09, 9)).pvalue, rel=1e-6)
    # VI: lower is better, so "a" (higher VI) is worse: Δ is negative, p is the same
    vi = frame.loc["vi"]
    assert vi["delta"] == pytest.approx(-0.05) and vi["p_wilcoxon"] == 0.00390625
    assert vi["ci_high"] < 0 < miou["ci_low"]


def test_vi_lower_is_better_delta_sign_and_rank():
    base = random_values(3)
    images = images_table({"ref": base, "low": base - 0.1})
    frame = comparison_frame(images, [MIOU, VI], SETTINGS).set_index("metric")
    assert frame.loc["vi", "delta"] == pytest.approx(0.1) and frame.loc["miou", "delta"] == pytest.approx(
        -0.1
    )
    ranks = cell_ranks(run_scores(images, [MIOU, VI]), [MIOU, VI]).set_index(["metric", "run_name"])["rank"]
    assert ranks[("vi", "low")] == 1 and ranks[("miou", "low")] == 2


def test_mixed_model_equals_statsmodels_and_balanced_estimate_is_mean_delta():
    import statsmodels.formula.api as smf

    image_effect = 0.1 * np.sin(np.arange(9)).reshape(1, 3, 3)  # image 10f+i is hard or easy in every seed
    base = random_values(4, scale=0.03) + image_effect
    gain = 0.02 + 0.01 * np.random.default_rng(5).standard_normal((3, 3, 3))
    images = images_table({"ref": base, "a": base + gain})
    row = comparison_frame(images, [MIOU], Settings(reference="ref", n_boot=50, mixed_model=True)).iloc[0]
    a, r = images[images["run_name"] == "a"], images[images["run_name"] == "ref"]
    direct_data = pd.DataFrame(
        {
            "y": np.r_[a["miou"], r["miou"]],
            "treated": np.r_[np.ones(len(a)), np.zeros(len(r))],
            "run": np.r_[
                ("a" + a["seed"].astype(str) + a["fold"].astype(str)).to_numpy(),
                ("r" + r["seed"].astype(str) + r["fold"].astype(str)).to_numpy(),
            ],
            "image": np.r_[a["index"], r["index"]],
            "g": 0,
        }
    )
    direct = smf.mixedlm(
        "y ~ treated",
        direct_data,
        groups="g",
        re_formula="0",
        vc_formula={"run": "0 + C(run)", "image": "0 + C(image)"},
    ).fit(reml=True, method=["powell", "lbfgs"])
    assert direct.converged
    assert row["p_mixed"] == pytest.approx(direct.pvalues["treated"], rel=1e-4)
    # balanced and complete: the fixed effect is the plain mean difference
    assert row["mixed_estimate"] == pytest.approx(gain.mean(), rel=1e-6)


def test_mixed_model_orients_vi_and_handles_empty():
    pairs = pd.DataFrame(
        {"seed": [0], "fold": [0], "index": [1], "other": [1.0], "reference": [2.0], "delta": [1.0]}
    )
    long = mixed_long(pairs, VI)
    assert list(long["y"]) == [-1.0, -2.0] and list(long["is_other"]) == [1, 0]
    assert all(np.isnan(mixed_model_p(pairs.iloc[:0], VI)))


def test_holm_and_bh_equal_hand_computation_and_scipy():
    p = np.array([0.01, 0.04, 0.03, 0.20, np.nan])
    # Holm: sorted 0.01, 0.03, 0.04, 0.20 times 4, 3, 2, 1 → 0.04, 0.09, 0.08→0.09 (monotone), 0.20
    assert adjust_pvalues(p, "holm")[:4] == pytest.approx([0.04, 0.09, 0.09, 0.20])
    assert np.isnan(adjust_pvalues(p, "holm")[4])
    assert adjust_pvalues(p, "bh")[:4] == pytest.approx(sps.false_discovery_control(p[:4], method="bh"))
    with pytest.raises(StatisticsError, match="correction"):
        adjust_pvalues(p, "bonferroni")


def test_leaderboard_order_follows_mean_ranks_on_hand_made_table():
    # two data sets, one metric (mIoU) each, one run per loss: ranks drive a1 b2 c3, isbi c1 a2 b3
    rows = [
        ("drive", "a", 0.9),
        ("drive", "b", 0.8),
        ("drive", "c", 0.7),
        ("isbi2012", "a", 0.6),
        ("isbi2012", "b", 0.5),
        ("isbi2012", "c", 0.95),
    ]
    scores = pd.DataFrame(
        [{"dataset": d, "run_name": n, "seed": 0, "fold": 0, "miou": v, "vi": 1 - v} for d, n, v in rows]
    )
    ranks = cell_ranks(scores, [MIOU, VI])
    order = leaderboard_order(ranks)
    # mean ranks: a (1+2)/2 = 1.5, c (3+1)/2 = 2, b 2.5; VI = 1 − mIoU ranks identically (lower is better)
    assert list(order["run_name"]) == ["a", "c", "b"]
    assert list(order["mean_rank"]) == pytest.approx([1.5, 2.0, 2.5]) and list(order["position"]) == [1, 2, 3]


def test_bootstrap_is_seeded_and_identity_free_of_noise():
    images = images_table({"ref": random_values(6), "a": random_values(7)})
    cube, counts = image_cube(images, "drive", ["a", "ref"], MIOU)
    assert cube.shape == (2, 9, 3) and list(counts) == [3] * 9
    first, again = bootstrap_means(cube, counts, 500, seed=11), bootstrap_means(cube, counts, 500, seed=11)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, bootstrap_means(cube, counts, 500, seed=12))
    constant = np.full((1, 4, 2), 0.3)
    assert np.allclose(bootstrap_means(constant, np.array([2, 2, 2, 2]), 50, 0), 0.3)


def test_bootstrap_interval_covers_the_true_mean_at_about_its_nominal_rate():
    rng = np.random.default_rng(2024)
    hits, trials = 0, 150
    for t in range(trials):
        run_effect = 0.03 * rng.standard_normal((9, 1))
        cube = (0.5 + run_effect + 0.05 * rng.standard_normal((9, 12)))[None]
        low, high = percentile_interval(bootstrap_means(cube, np.full(9, 12), 400, seed=t)[:, 0], 0.95)
        hits += low <= 0.5 <= high
    # percentile intervals on 9 runs run slightly narrow or, with the image level, slightly wide
    assert 0.85 <= hits / trials <= 0.995


def test_minimum_detectable_effect_has_the_requested_power():
    d = minimum_detectable_effect(9, alpha=0.05, power=0.8)
    crit = sps.t.ppf(0.975, 8)
    nc = d * np.sqrt(9)  # noncentrality of the paired t statistic
    power = sps.nct.sf(crit, 8, nc) + sps.nct.cdf(-crit, 8, nc)
    assert power == pytest.approx(0.8, abs=1e-4)
    assert 1.0 < d < 1.1 and np.isnan(minimum_detectable_effect(1))
    # 3 runs at a Holm threshold 0.05/12: the true d ≈ 11.4 lies past statsmodels' search bound (10)
    assert minimum_detectable_effect(3, alpha=0.05 / 12) == np.inf


def test_friedman_equals_scipy_and_critical_difference_formula():
    rng = np.random.default_rng(8)
    values = {"a": random_values(9), "b": random_values(9) + 0.05, "c": random_values(9) - 0.05}
    values = {k: v + 0.01 * rng.standard_normal(v.shape) for k, v in values.items()}
    scores = run_scores(images_table(values), [MIOU, VI])
    result = friedman_nemenyi(scores, MIOU)
    table = scores.pivot_table(index=["seed", "fold"], columns="run_name", values="miou")
    direct = sps.friedmanchisquare(table["a"], table["b"], table["c"])
    assert result["statistic"] == pytest.approx(direct.statistic) and result["p"] == pytest.approx(
        direct.pvalue
    )
    assert result["n_blocks"] == 9
    assert result["cd"] == pytest.approx(
        2.343 * np.sqrt(3 * 4 / (6 * 9)), rel=1e-3
    )  # Demšar 2006, Table 5(a)
    assert result["mean_ranks"].idxmin() == "b"  # rank 1 = best
    assert friedman_nemenyi(scores, VI)["mean_ranks"].idxmin() == "c"  # VI: lower is better
    assert result["pvalues"].shape == (3, 3)
    assert friedman_nemenyi(scores[scores["run_name"] != "c"], MIOU) is None


def test_variance_decomposition_by_hand():
    # run score = 0.1·seed + 0.01·fold: across seeds (same fold) sd = 0.1; across folds sd = 0.01
    values = np.add.outer(0.1 * np.arange(3), 0.01 * np.arange(3))[..., None].repeat(2, axis=2)
    scores = run_scores(images_table({"a": values}, n_images=2), [MIOU])
    row = variance_decomposition(scores, [MIOU]).iloc[0]
    assert row["sd_seed"] == pytest.approx(0.1) and row["sd_fold"] == pytest.approx(0.01)
    assert row["dominant"] == "seed" and row["n_seeds"] == 3 and row["n_folds"] == 3


def test_rank_stability_intervals_bracket_a_clear_order():
    base = random_values(10, scale=0.01)
    images = images_table({"ref": base, "good": base + 0.2, "bad": base - 0.2})
    cells, overall = rank_stability(images, [MIOU, VI], Settings(reference="ref", n_boot=100))
    miou = cells[cells["metric"] == "miou"].set_index("run_name")
    assert miou.loc["good", "rank_median"] == 1 and miou.loc["good", "rank_high"] == 1
    assert cells[cells["metric"] == "vi"].set_index("run_name").loc["bad", "rank_median"] == 1
    assert miou.loc["good", "mean_low"] <= base.mean() + 0.2 <= miou.loc["good", "mean_high"]
    # mIoU and VI disagree completely, so every run name's overall rank spreads or ties
    assert set(overall["run_name"]) == {"ref", "good", "bad"}


def test_broken_tables_raise_or_warn():
    images = images_table({"ref": random_values(1), "a": random_values(2)})
    with pytest.raises(StatisticsError, match="lacks metric column.*'vi'"):
        check_images(images.drop(columns="vi"), [MIOU, VI])
    shifted = images.copy()
    shifted.loc[(shifted["run_name"] == "a") & (shifted["fold"] == 1), "index"] += 100
    with pytest.raises(StatisticsError, match="mismatched folds.*seed0/fold1"):
        check_images(shifted, [MIOU])
    twice = pd.concat([images, images.iloc[:1]])
    with pytest.raises(StatisticsError, match="listed twice"):
        check_images(twice, [MIOU])
    fewer = images[~((images["run_name"] == "a") & (images["seed"] == 2))]
    notes = check_images(fewer, [MIOU])
    assert notes == [
        "drive/a: 6 runs (seed×fold) against 9 for the most complete run name; "
        "its comparisons and ranks use fewer runs"
    ]
    row = comparison_frame(fewer, [MIOU], SETTINGS).iloc[0]
    assert row["n_runs"] == 6
    with pytest.raises(StatisticsError, match="correction"):
        Settings(reference="ref", correction="none")


def test_paired_runs_pairs_only_shared_blocks():
    images = images_table({"ref": random_values(1), "a": random_values(2)})
    scores = run_scores(images[~((images["run_name"] == "ref") & (images["fold"] == 0))], [MIOU])
    pairs = paired_runs(scores, "drive", "a", "ref", MIOU)
    assert len(pairs) == 6 and set(pairs["fold"]) == {1, 2}
    assert np.allclose(pairs["delta"], pairs["other"] - pairs["reference"])


CD_SCRIPT = """
import sys
from pathlib import Path
import pandas as pd
from evaluation.naming import Metric
from evaluation.stat_figures import cd_diagram
names = ["ce", "dice", "spw", "focal", "jaccard", "tversky"]
ranks = pd.Series([2.0, 2.5, 3.0, 4.0, 4.5, 5.0], index=names)
pvalues = pd.DataFrame(0.9, index=names, columns=names)  # no pair separated: one bar through all six
pvalues.loc["ce", "tversky"] = pvalues.loc["tversky", "ce"] = 0.001  # ... but two overlapping ones
result = {"mean_ranks": ranks, "pvalues": pvalues, "n_blocks": 9, "p": 0.01, "cd": 1.5}
cd_diagram(result, Metric("miou", "mIoU", True, 4), Path(sys.argv[1]))
"""


def test_cd_diagram_is_the_same_image_under_any_hash_seed(tmp_path):
    repo = Path(__file__).resolve().parents[1]
    images = []
    for seed in ("0", "1", "2"):
        out = tmp_path / seed
        out.mkdir()
        env = {**os.environ, "PYTHONHASHSEED": seed, "MPLBACKEND": "Agg"}
        subprocess.run([sys.executable, "-c", CD_SCRIPT, str(out)], cwd=repo, env=env, check=True)
        images.append((out / "cd_miou.png").read_bytes())
    assert images[0] == images[1] == images[2]
