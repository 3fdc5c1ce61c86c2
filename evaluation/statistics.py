"""Run-level statistics of a loss benchmark: paired tests, hierarchical bootstrap, ranks, variance split.

The unit of analysis is the *run* (data set, run name, seed, fold); its score on a metric is the mean
over its test images (NaN skipped), as Table 1 uses (docs/METHOD.md §7). Two run names are paired on the
runs that share (data set, seed, fold): same split, same training seed, same test images.

Every Δ is *oriented*: Δ = other − reference for higher-is-better metrics and reference − other for
VI (lower is better), so Δ > 0 always means "better than the reference" (docs/BASELINES.md §7).

Pure functions over the tidy per-image frame of :func:`evaluation.stats.per_image_frame`
(columns ``dataset, run_name, seed, fold, index`` and one column per metric). The tests come from
scipy (``ttest_rel``, ``wilcoxon``, ``shapiro``, ``friedmanchisquare``), statsmodels (``MixedLM``,
``multipletests``, ``TTestPower``) and scikit-posthocs (Nemenyi post-hoc); only the two-level
bootstrap is written here, because ``scipy.stats.bootstrap`` resamples a single level.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from .naming import Metric

RUN_KEY = ["dataset", "run_name", "seed", "fold"]
BLOCK = ["seed", "fold"]
CORRECTIONS = {"holm": "holm", "bh": "fdr_bh"}  # --correction → statsmodels.stats.multitest method


class StatisticsError(ValueError):
    """A runs table that cannot support the statistics; the message says what is wrong and where."""


@dataclass(frozen=True)
class Settings:
    """Every choice that changes a number of the statistics; written into leaderboard.json."""

    reference: str
    correction: str = "holm"
    n_boot: int = 2000
    seed: int = 0
    level: float = 0.95
    alpha: float = 0.05
    power: float = 0.8
    mixed_model: bool = False

    def __post_init__(self):
        if self.correction not in CORRECTIONS:
            raise StatisticsError(f"correction must be one of {sorted(CORRECTIONS)}, got {self.correction!r}")
        if self.n_boot < 1:
            raise StatisticsError(f"n_boot must be >= 1, got {self.n_boot}")
        if not 0.0 < self.level < 1.0 or not 0.0 < self.alpha < 1.0:
            raise StatisticsError(f"level and alpha must lie in (0, 1), got {self.level}, {self.alpha}")


def orient(values, metric: Metric):
    """Values signed so that larger is better: VI (lower is better) is negated."""
    return values if metric.higher_is_better else -values


# ---------------------------------------------------------------- checks and run-level scores


def check_images(images: pd.DataFrame, metrics: list[Metric]) -> list[str]:
    """Refuse a per-image table the statistics cannot use; return warnings for an unbalanced one.

    Raises:
        StatisticsError: a metric column is missing, an image appears twice in a run, or two run names
            of one (data set, seed, fold) were tested on different images (mismatched folds).
    Returns:
        One warning per run name that has fewer (seed, fold) runs than the most complete one of its
        data set: its comparisons use only the runs it shares with the reference.
    """
    missing = [m.key for m in metrics if m.key not in images.columns]
    if missing:
        raise StatisticsError(
            f"test_metrics.csv lacks metric column(s) {missing} (has {sorted(images.columns)})"
        )
    dup = images.duplicated([*RUN_KEY, "index"])
    if dup.any():
        first = images.loc[dup, [*RUN_KEY, "index"]].iloc[0].to_dict()
        raise StatisticsError(f"test image listed twice in one run: {first}")
    for (dataset, seed, fold), block in images.groupby(["dataset", *BLOCK]):
        sets = block.groupby("run_name")["index"].apply(frozenset)
        if sets.nunique() > 1:
            detail = "; ".join(f"{name}: {sorted(s)[:6]}…" for name, s in sets.items())
            raise StatisticsError(
                f"mismatched folds: {dataset} seed{seed}/fold{fold} has different test images "
                f"per run name ({detail}); were the runs made with different splits?"
            )
    return _balance_warnings(images)


def _balance_warnings(images: pd.DataFrame) -> list[str]:
    notes = []
    for dataset, part in images.groupby("dataset"):
        blocks = part.drop_duplicates(["run_name", *BLOCK]).groupby("run_name").size()
        for name, count in blocks.items():
            if count < blocks.max():
                notes.append(
                    f"{dataset}/{name}: {count} runs (seed×fold) against {blocks.max()} for the most "
                    f"complete run name; its comparisons and ranks use fewer runs"
                )
    return notes


def run_scores(images: pd.DataFrame, metrics: list[Metric]) -> pd.DataFrame:
    """One row per run: ``dataset, run_name, seed, fold, n_images`` and the mean over its test images
    of each metric (NaN skipped), as Table 1 averages (docs/METHOD.md §7)."""
    keys = [m.key for m in metrics]
    grouped = images.groupby(RUN_KEY, sort=True)
    scores = grouped[keys].mean()
    scores.insert(0, "n_images", grouped.size())
    return scores.reset_index()


def _paired(frame: pd.DataFrame, keys: list[str], dataset: str, other: str, reference: str, metric: Metric):
    """Rows of ``other`` and ``reference`` matched on ``keys``, NaNs dropped, with the oriented ``delta``."""
    mine = frame[frame["dataset"] == dataset]
    left = mine.loc[mine["run_name"] == other, [*keys, metric.key]].rename(columns={metric.key: "other"})
    right = mine.loc[mine["run_name"] == reference, [*keys, metric.key]].rename(
        columns={metric.key: "reference"}
    )
    both = left.merge(right, on=keys).dropna().sort_values(keys).reset_index(drop=True)
    both["delta"] = orient(both["other"] - both["reference"], metric)
    return both


def paired_runs(
    scores: pd.DataFrame, dataset: str, other: str, reference: str, metric: Metric
) -> pd.DataFrame:
    """Run scores of ``other`` and ``reference`` on their shared (seed, fold) blocks, with oriented ``delta``.

    Returns:
        DataFrame ``seed, fold, other, reference, delta`` sorted by (seed, fold); blocks with a NaN
        score on either side are dropped.
    """
    return _paired(scores, list(BLOCK), dataset, other, reference, metric)


# ---------------------------------------------------------------- paired tests on one comparison


def paired_ttest(other: np.ndarray, reference: np.ndarray, metric: Metric) -> dict[str, float]:
    """Headline test: ``scipy.stats.ttest_rel`` on the oriented run scores (two-sided), plus the
    Shapiro–Wilk p of the run-level differences as a normality diagnostic.

    Every difference 0 gives t = 0, p = 1 (no evidence; scipy returns NaN for 0/0). Fewer than 2
    pairs give NaN; Shapiro needs 3 non-identical differences (else NaN).
    """
    other, reference = orient(np.asarray(other, float), metric), orient(np.asarray(reference, float), metric)
    diffs = other - reference
    if diffs.size < 2:
        return {"t": np.nan, "p_ttest": np.nan, "p_shapiro": np.nan}
    if not np.any(diffs != 0):
        return {"t": 0.0, "p_ttest": 1.0, "p_shapiro": np.nan}
    result = sps.ttest_rel(other, reference)
    shapiro = sps.shapiro(diffs).pvalue if diffs.size >= 3 and np.ptp(diffs) > 0 else np.nan
    return {"t": float(result.statistic), "p_ttest": float(result.pvalue), "p_shapiro": float(shapiro)}


def wilcoxon_p(diffs: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p (``scipy.stats.wilcoxon``; exact null distribution for
    n ≤ 50 without ties, zero differences dropped). Every difference 0 gives 1; no pair gives NaN.

    Its floor is 2/2ⁿ: with n = 9 runs no table can give less than 0.0039.
    """
    diffs = np.asarray(diffs, float)
    diffs = diffs[~np.isnan(diffs)]
    if diffs.size == 0:
        return np.nan
    if not np.any(diffs != 0):
        return 1.0
    return float(sps.wilcoxon(diffs).pvalue)


def image_pairs(
    images: pd.DataFrame, dataset: str, other: str, reference: str, metric: Metric
) -> pd.DataFrame:
    """Per-image values of both run names on their shared (seed, fold, index), oriented ``delta``."""
    return _paired(images, [*BLOCK, "index"], dataset, other, reference, metric)


def mixed_model_p(pairs: pd.DataFrame, metric: Metric) -> tuple[float, float]:
    """(estimate, Wald p) of the loss effect in a linear mixed model on the per-image values.

    ``statsmodels`` MixedLM, REML: oriented value ~ is_other, with crossed random intercepts for the
    run (run name × seed × fold: training noise) and for the test image (sample index: image
    difficulty), written as variance components of a single group. ``pairs`` is :func:`image_pairs`
    output. (0, 1) when every difference is 0; NaN without pairs or when the fit fails or does not
    converge.
    """
    import statsmodels.formula.api as smf  # deferred: only --mixed-model pays the import

    if pairs.empty:
        return np.nan, np.nan
    if not np.any(pairs["delta"] != 0):
        return 0.0, 1.0
    model = smf.mixedlm(
        "y ~ is_other",
        mixed_long(pairs, metric),
        groups="group",
        re_formula="0",
        vc_formula={"run": "0 + C(run)", "image": "0 + C(image)"},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # boundary fits (a variance of 0) are expected and harmless here
        try:
            # Powell first: gradient-free, it converges where a variance sits on its boundary (0),
            # which BFGS (statsmodels' default) often reports as a failed fit
            fit = model.fit(reml=True, method=["powell", "lbfgs"])
        except (np.linalg.LinAlgError, ValueError):
            return np.nan, np.nan
    if not fit.converged:
        return np.nan, np.nan
    return float(fit.params["is_other"]), float(fit.pvalues["is_other"])


def mixed_long(pairs: pd.DataFrame, metric: Metric) -> pd.DataFrame:
    """Long table of :func:`mixed_model_p`: ``y`` (oriented), ``is_other``, ``run``, ``image``, ``group``."""
    block = pairs["seed"].astype(str) + "/" + pairs["fold"].astype(str)
    parts = [
        pd.DataFrame(
            {
                "y": orient(pairs[column].to_numpy(float), metric),
                "is_other": flag,
                "run": f"{column}:" + block,
                "image": pairs["index"].astype(str),
                "group": 1,
            }
        )
        for flag, column in ((1, "other"), (0, "reference"))
    ]
    return pd.concat(parts, ignore_index=True)


# ---------------------------------------------------------------- hierarchical bootstrap


def image_cube(
    images: pd.DataFrame, dataset: str, run_names: list[str], metric: Metric
) -> tuple[np.ndarray, np.ndarray]:
    """Per-image values as ``cube (L, K, N)`` (run name, (seed, fold) block, image slot; NaN = absent)
    and ``counts (K,)``, the number of test images of each block.

    Blocks are every (seed, fold) that any of ``run_names`` has on ``dataset``; image slots follow the
    sorted sample indices of the block, the same for every run name (checked by :func:`check_images`).
    """
    part = images[(images["dataset"] == dataset) & images["run_name"].isin(run_names)]
    blocks = part[BLOCK].drop_duplicates().sort_values(BLOCK).reset_index(drop=True)
    block_id = part[BLOCK].merge(blocks.reset_index(), on=BLOCK, how="left")["index"].to_numpy()
    slot = part.groupby(BLOCK)["index"].rank(method="dense").to_numpy(int) - 1
    counts = np.array([np.unique(slot[block_id == k]).size for k in range(len(blocks))], dtype=int)
    cube = np.full((len(run_names), len(blocks), int(counts.max(initial=0))), np.nan)
    loss_id = part["run_name"].map({name: i for i, name in enumerate(run_names)}).to_numpy()
    cube[loss_id, block_id, slot] = part[metric.key].to_numpy(float)
    return cube, counts


def bootstrap_means(
    cube: np.ndarray, counts: np.ndarray, n_boot: int, seed: int, chunk: int = 256
) -> np.ndarray:
    """Two-level bootstrap of each run name's mean score: ``(n_boot, L)``.

    One replicate draws K blocks (runs of one seed × fold) with replacement, then, inside each drawn
    block, as many test images as it has, with replacement; every run name gets the *same* draws, so
    differences and ranks stay paired. A run name's replicate mean is the mean over its drawn blocks
    of the mean over the drawn images (NaN skipped), the bootstrap image of the Table 1 score.
    Seeded: ``numpy.random.default_rng(seed)``.
    """
    rng = np.random.default_rng(seed)
    n_loss, n_block, n_slot = cube.shape
    out = np.empty((n_boot, n_loss))
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        blocks = rng.integers(0, n_block, size=(size, n_block))
        slots = (rng.random((size, n_block, n_slot)) * counts[blocks][..., None]).astype(int)
        valid = np.arange(n_slot)[None, None, :] < counts[blocks][..., None]
        values = cube[:, blocks[..., None], slots]  # (L, size, K, N)
        values = np.where(valid[None], values, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a run name absent from a drawn block
            out[start : start + size] = np.nanmean(np.nanmean(values, axis=3), axis=2).T
    return out


def observed_means(cube: np.ndarray) -> np.ndarray:
    """Each run name's mean over its blocks of the mean over the block's images: ``(L,)``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.nanmean(cube, axis=2), axis=1)


def percentile_interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    """Equal-tailed percentile interval of bootstrap ``samples`` (NaN replicates ignored)."""
    samples = np.asarray(samples, float)
    samples = samples[~np.isnan(samples)]
    if samples.size == 0:
        return np.nan, np.nan
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(samples, [tail, 1.0 - tail])
    return float(low), float(high)


def delta_interval(
    images: pd.DataFrame, dataset: str, other: str, reference: str, metric: Metric, settings: Settings
) -> tuple[float, float]:
    """Hierarchical-bootstrap CI of the oriented mean Δ, on the blocks both run names have."""
    pairs = image_pairs(images, dataset, other, reference, metric)
    if pairs.empty:
        return np.nan, np.nan
    long = pd.concat(
        [
            pairs.assign(dataset=dataset, run_name=name, **{metric.key: pairs[column]})
            for name, column in ((other, "other"), (reference, "reference"))
        ]
    )
    cube, counts = image_cube(long, dataset, [other, reference], metric)
    means = orient(bootstrap_means(cube, counts, settings.n_boot, settings.seed), metric)
    return percentile_interval(means[:, 0] - means[:, 1], settings.level)


# ---------------------------------------------------------------- power and multiplicity


def minimum_detectable_effect(n_runs: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest standardized effect d = mean(Δ)/sd(Δ) that a two-sided paired t-test on ``n_runs``
    pairs detects with probability ``power`` at level ``alpha`` (``statsmodels`` TTestPower).
    Multiply by sd(Δ) for the effect in metric units. NaN below 2 pairs; inf when the
    solver cannot reach ``power`` (statsmodels searches d ≤ 10)."""
    from statsmodels.stats.power import TTestPower

    if n_runs < 2:
        return np.nan
    solver = TTestPower()
    d = float(
        solver.solve_power(effect_size=None, nobs=n_runs, alpha=alpha, power=power, alternative="two-sided")
    )
    # statsmodels stops at its search bound (d = 10) without saying so: inf = "beyond any plausible effect"
    achieved = solver.power(effect_size=d, nobs=n_runs, alpha=alpha, alternative="two-sided")
    return d if abs(achieved - power) < 1e-3 else np.inf


def adjust_pvalues(pvalues, correction: str = "holm") -> np.ndarray:
    """Adjusted p-values within one family (``statsmodels.stats.multitest.multipletests``: Holm or
    Benjamini–Hochberg); NaN entries stay NaN and do not count in the family."""
    from statsmodels.stats.multitest import multipletests

    if correction not in CORRECTIONS:
        raise StatisticsError(f"correction must be one of {sorted(CORRECTIONS)}, got {correction!r}")
    pvalues = np.asarray(pvalues, float)
    adjusted = np.full(pvalues.shape, np.nan)
    ok = ~np.isnan(pvalues)
    if ok.any():
        adjusted[ok] = multipletests(pvalues[ok], method=CORRECTIONS[correction])[1]
    return adjusted


# ---------------------------------------------------------------- comparisons against a reference


def compare_pair(
    images: pd.DataFrame, scores: pd.DataFrame, dataset: str, other: str, metric: Metric, settings: Settings
) -> dict:
    """Every number of one comparison ``other`` vs ``settings.reference`` on one data set and metric."""
    reference = settings.reference
    runs = paired_runs(scores, dataset, other, reference, metric)
    row = {
        "dataset": dataset,
        "metric": metric.key,
        "run_name": other,
        "reference": reference,
        "n_runs": len(runs),
        "mean_other": runs["other"].mean(),
        "mean_reference": runs["reference"].mean(),
        "delta": runs["delta"].mean(),
        "delta_sd": runs["delta"].std(ddof=1) if len(runs) > 1 else np.nan,
    }
    row["ci_low"], row["ci_high"] = delta_interval(images, dataset, other, reference, metric, settings)
    row.update(paired_ttest(runs["other"].to_numpy(), runs["reference"].to_numpy(), metric))
    row["p_wilcoxon"] = wilcoxon_p(runs["delta"].to_numpy())
    pairs = image_pairs(images, dataset, other, reference, metric)
    row["n_images"] = len(pairs)
    row["p_image_wilcoxon"] = wilcoxon_p(pairs["delta"].to_numpy())
    if settings.mixed_model:
        row["mixed_estimate"], row["p_mixed"] = mixed_model_p(pairs, metric)
    d_min = minimum_detectable_effect(len(runs), settings.alpha, settings.power)
    row["mde_d"] = d_min
    row["mde"] = d_min * row["delta_sd"]
    return row


def comparison_frame(images: pd.DataFrame, metrics: list[Metric], settings: Settings) -> pd.DataFrame:
    """Every run name against the reference, per data set and metric, with adjusted p per family.

    The family is one data set × one metric (every run name against the reference); ``p_adjusted``
    corrects ``p_ttest`` (the headline) within it, and ``significant`` = p_adjusted < alpha.
    """
    scores = run_scores(images, metrics)
    rows = []
    for dataset in sorted(images["dataset"].unique()):
        names = images.loc[images["dataset"] == dataset, "run_name"].unique()
        if settings.reference not in names:
            continue
        for other in sorted(n for n in names if n != settings.reference):
            rows += [compare_pair(images, scores, dataset, other, m, settings) for m in metrics]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["family_size"] = frame.groupby(["dataset", "metric"])["p_ttest"].transform(
        lambda p: p.notna().sum()
    )
    frame["p_adjusted"] = frame.groupby(["dataset", "metric"])["p_ttest"].transform(
        lambda p: pd.Series(adjust_pvalues(p.to_numpy(), settings.correction), index=p.index)
    )
    frame["significant"] = frame["p_adjusted"] < settings.alpha
    frame["mde_d_family"] = [
        minimum_detectable_effect(n, settings.alpha / max(k, 1), settings.power)
        for n, k in zip(frame["n_runs"], frame["family_size"])
    ]
    return frame


# ---------------------------------------------------------------- ranks


def cell_ranks(scores: pd.DataFrame, metrics: list[Metric]) -> pd.DataFrame:
    """Per data set × metric: each run name's mean over its runs and its rank (1 = best, ties share
    the average rank; VI ranked ascending, the others descending).

    Returns:
        Long frame ``dataset, metric, run_name, mean, std, n_runs, rank``; ``std`` over runs, ddof = 1.
    """
    rows = []
    for dataset, part in scores.groupby("dataset"):
        for m in metrics:
            stats = part.groupby("run_name")[m.key].agg(["mean", "std", "count"]).reset_index()
            stats = stats.rename(columns={"count": "n_runs"})
            stats["rank"] = orient(stats["mean"], m).rank(ascending=False, method="average")
            rows.append(stats.assign(dataset=dataset, metric=m.key))
    cols = ["dataset", "metric", "run_name", "mean", "std", "n_runs", "rank"]
    return pd.concat(rows, ignore_index=True)[cols] if rows else pd.DataFrame(columns=cols)


def leaderboard_order(ranks: pd.DataFrame) -> pd.DataFrame:
    """Run names ordered by their mean rank over every (data set, metric) cell they appear in.

    Returns:
        ``run_name, mean_rank, n_cells, position`` (position 1 = lowest mean rank; ties share it).
    """
    order = ranks.groupby("run_name")["rank"].agg(mean_rank="mean", n_cells="count").reset_index()
    order["position"] = order["mean_rank"].rank(method="min").astype(int)
    return order.sort_values(["position", "run_name"]).reset_index(drop=True)


def rank_stability(
    images: pd.DataFrame, metrics: list[Metric], settings: Settings
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rank and mean distributions under the two-level bootstrap (challengeR's rank stability).

    Per data set, every run name is resampled with the same blocks and images; per replicate each
    cell is ranked, and the replicate's overall ranking orders the mean rank over all cells.

    Returns:
        ``cells``: ``dataset, metric, run_name, mean_low, mean_high, rank_median, rank_low, rank_high``;
        ``overall``: ``run_name, rank_median, rank_low, rank_high`` (percentile intervals at ``level``).
    """
    cells, replicate_ranks = [], []
    for d, dataset in enumerate(sorted(images["dataset"].unique())):
        names = sorted(images.loc[images["dataset"] == dataset, "run_name"].unique())
        for m in metrics:
            cube, counts = image_cube(images, dataset, names, m)
            means = bootstrap_means(cube, counts, settings.n_boot, settings.seed + d)
            ranks = pd.DataFrame(orient(means, m), columns=names).rank(
                axis=1, ascending=False, method="average"
            )
            replicate_ranks.append(ranks)
            for i, name in enumerate(names):
                row = {"dataset": dataset, "metric": m.key, "run_name": name}
                row["mean_low"], row["mean_high"] = percentile_interval(means[:, i], settings.level)
                row["rank_median"] = float(ranks[name].median())
                row["rank_low"], row["rank_high"] = percentile_interval(
                    ranks[name].to_numpy(), settings.level
                )
                cells.append(row)
    return pd.DataFrame(cells), _overall_rank_interval(replicate_ranks, settings.level)


def _overall_rank_interval(replicate_ranks: list[pd.DataFrame], level: float) -> pd.DataFrame:
    if not replicate_ranks:
        return pd.DataFrame(columns=["run_name", "rank_median", "rank_low", "rank_high"])
    mean_rank = pd.concat(replicate_ranks, axis=1).T.groupby(level=0).mean().T  # (n_boot, run names)
    overall = mean_rank.rank(axis=1, method="min")
    rows = []
    for name in overall.columns:
        low, high = percentile_interval(overall[name].to_numpy(), level)
        rows.append(
            {
                "run_name": name,
                "rank_median": float(overall[name].median()),
                "rank_low": low,
                "rank_high": high,
            }
        )
    return pd.DataFrame(rows)


def friedman_nemenyi(scores: pd.DataFrame, metric: Metric, alpha: float = 0.05) -> dict | None:
    """Friedman test over the (data set, seed, fold) blocks that every run name completed, with the
    Nemenyi post-hoc (``scikit_posthocs.posthoc_nemenyi_friedman``) and its critical difference
    CD = q_α √(k(k+1)/(6N)) (Demšar 2006), q_α the studentized range quantile / √2.

    Returns:
        ``statistic, p, n_blocks, mean_ranks`` (Series, 1 = best), ``pvalues`` (k × k DataFrame),
        ``cd``; None with fewer than 3 run names or 2 complete blocks.
    """
    import scikit_posthocs as sp

    table = scores.pivot_table(index=["dataset", *BLOCK], columns="run_name", values=metric.key)
    table = orient(table.dropna(axis=0, how="any"), metric)
    n_blocks, k = table.shape
    if k < 3 or n_blocks < 2:
        return None
    stat, p = sps.friedmanchisquare(*(table[c].to_numpy() for c in table.columns))
    mean_ranks = table.rank(axis=1, ascending=False, method="average").mean(axis=0)
    pvalues = sp.posthoc_nemenyi_friedman(table.to_numpy())
    pvalues.index = pvalues.columns = table.columns
    q = sps.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    cd = float(q * np.sqrt(k * (k + 1) / (6.0 * n_blocks)))
    return {
        "statistic": float(stat),
        "p": float(p),
        "n_blocks": n_blocks,
        "mean_ranks": mean_ranks,
        "pvalues": pvalues,
        "cd": cd,
    }


# ---------------------------------------------------------------- variance decomposition


def variance_decomposition(scores: pd.DataFrame, metrics: list[Metric]) -> pd.DataFrame:
    """Per data set × run name × metric: the spread across seeds (same fold) and across folds (same seed).

    ``sd_seed`` = mean over folds of the sample SD (ddof = 1) of the run scores across seeds;
    ``sd_fold`` = mean over seeds of the SD across folds. NaN with a single seed (or fold).
    ``dominant`` names the larger source ("seed" or "fold"), empty when either is NaN.
    """
    rows = []
    for (dataset, name), part in scores.groupby(["dataset", "run_name"]):
        for m in metrics:
            sd_seed = part.groupby("fold")[m.key].std(ddof=1).mean()
            sd_fold = part.groupby("seed")[m.key].std(ddof=1).mean()
            dominant = (
                "" if np.isnan(sd_seed) or np.isnan(sd_fold) else ("seed" if sd_seed > sd_fold else "fold")
            )
            rows.append(
                {
                    "dataset": dataset,
                    "run_name": name,
                    "metric": m.key,
                    "n_seeds": part["seed"].nunique(),
                    "n_folds": part["fold"].nunique(),
                    "sd_seed": sd_seed,
                    "sd_fold": sd_fold,
                    "dominant": dominant,
                }
            )
    return pd.DataFrame(rows)
