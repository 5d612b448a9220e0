#!/usr/bin/env python3
"""Independent reference values for apo's statistics (Sources/APOPipeline/Statistics).

Writes Tests/APOPipelineTests/Fixtures/statistics/*.json, which StatisticsFixtureTests reads.
Needs numpy, scipy and statsmodels, which are NOT project dependencies; use a scratch venv:

    python3 -m venv "$SCRATCH/stats-venv" && "$SCRATCH/stats-venv/bin/pip" install numpy scipy statsmodels
    "$SCRATCH/stats-venv/bin/python" scripts/stats_reference.py     # SCRATCH: any folder outside the repo

What is checked how:
- binomial tails: scipy.stats.binom.cdf / sf.
- McNemar exact p-values: statsmodels mcnemar(exact=True), cross-checked here against
  scipy.stats.binomtest(min(b, c), b + c, 0.5) (the two must agree; for p = 1/2 they do).
- normal quantiles and Wilson intervals: scipy.stats.norm.ppf, statsmodels proportion_confint
  (method="wilson"), including fractional counts (wins + ties/2).
- bootstrap: (1) EXACT — the Swift side's resampling is documented (SplitMix64 seeded generator,
  Lemire's bounded draws, resample r = the next n draws), so this script draws the very same
  indices in pure Python and computes the percentile interval with numpy (np.percentile, linear);
  the Swift test must match to 1e-9. This pins the implementation, not just its distribution.
  (2) DISTRIBUTIONAL — scipy.stats.bootstrap(method="percentile") with its own random numbers gives
  an interval that must lie within 0.5 standard errors of the mean of the exact one at each end (with
  2,000 resamples the Monte Carlo spread of an endpoint is about 0.06 standard errors, so 0.5 is a
  loose bound that still catches a wrong statistic, level or pairing). The script asserts it here
  and the fixture keeps scipy's interval so the Swift test checks it too.
"""
import json
import math
import os

import numpy as np
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

MASK = (1 << 64) - 1
OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "APOPipelineTests", "Fixtures", "statistics")
SEED = 20240612  # Bootstrap.defaultSeed
RESAMPLES = 2000


class SplitMix64:
    """Sources/APOPipeline/Data/SeededGenerator.swift, bit for bit."""

    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def next_index(self, bound):
        threshold = ((1 << 64) - bound) % bound  # (0 &- b) % b
        while True:
            m = self.next() * bound
            if (m & MASK) >= threshold:
                return m >> 64


def resample_indices(n, resamples, seed):
    g = SplitMix64(seed)
    return np.array([[g.next_index(n) for _ in range(n)] for _ in range(resamples)], dtype=np.int64)


def exact_bootstrap(values, seed=SEED, resamples=RESAMPLES, level=0.95):
    values = np.asarray(values, dtype=float)
    means = values[resample_indices(len(values), resamples, seed)].mean(axis=1)
    alpha = 1 - level
    lower, upper = np.percentile(means, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(values.mean()), float(lower), float(upper)


def scipy_bootstrap(values, level=0.95):
    values = np.asarray(values, dtype=float)
    if np.all(values == values[0]):
        return float(values[0]), float(values[0])  # scipy warns and returns NaN on a degenerate sample
    res = stats.bootstrap((values,), np.mean, n_resamples=RESAMPLES, confidence_level=level,
                          method="percentile", random_state=np.random.default_rng(7))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def bootstrap_case(name, values, paired_with=None):
    if paired_with is not None:
        diffs = (np.asarray(values, float) - np.asarray(paired_with, float)).tolist()
    else:
        diffs = list(map(float, values))
    estimate, lower, upper = exact_bootstrap(diffs)
    scipy_low, scipy_high = scipy_bootstrap(diffs)
    se = float(np.std(diffs, ddof=1) / math.sqrt(len(diffs))) if len(diffs) > 1 else 0.0
    tolerance = 0.5 * se
    assert abs(scipy_low - lower) <= tolerance + 1e-12 and abs(scipy_high - upper) <= tolerance + 1e-12, \
        (name, lower, upper, scipy_low, scipy_high, tolerance)
    case = {"name": name, "seed": SEED, "resamples": RESAMPLES, "level": 0.95,
            "values": list(map(float, values)), "estimate": estimate, "lower": lower, "upper": upper,
            "scipy_lower": scipy_low, "scipy_upper": scipy_high, "tolerance": tolerance}
    if paired_with is not None:
        case["paired_with"] = list(map(float, paired_with))
    return case


def bootstrap_fixture():
    rng = np.random.default_rng(12)
    right_a = (rng.random(461) < 0.64).astype(float)
    # A second model that agrees with the first on ~80 % of the pairs.
    flip = rng.random(461) < 0.2
    right_b = np.where(flip, 1 - right_a, right_a)
    rewards = rng.normal(0.4, 1.1, 200)
    other = rewards - rng.normal(0.1, 0.5, 200)
    g = SplitMix64(SEED)
    return {
        # Raw 64-bit draws as strings (JSON numbers would lose precision above 2^53).
        "generator_first_draws": [str(g.next()) for _ in range(5)],
        # The first two resamples of a 7-value sample: the indices Bootstrap.resampledMeans draws.
        "first_resamples_of_7": resample_indices(7, 2, SEED).tolist(),
        "cases": [
            bootstrap_case("accuracy of 20 pairs", right_a[:20]),
            bootstrap_case("accuracy of 461 pairs", right_a),
            bootstrap_case("average reward of 200 queries", rewards),
            bootstrap_case("paired accuracy difference, 461 pairs", right_a, paired_with=right_b),
            bootstrap_case("paired reward difference, 200 queries", rewards, paired_with=other),
            bootstrap_case("one observation", [0.75]),
            bootstrap_case("all equal", [1.0] * 30),
        ],
    }


def binomial_fixture():
    cases = []
    for k, n, p in [(0, 0, 0.5), (0, 1, 0.5), (3, 10, 0.5), (5, 10, 0.5), (7, 20, 0.3), (0, 25, 0.5),
                    (12, 25, 0.5), (40, 100, 0.5), (150, 461, 0.5), (900, 2000, 0.5), (3, 10, 0.0),
                    (3, 10, 1.0), (10, 10, 0.9), (1, 3, 0.25)]:
        cases.append({"k": k, "n": n, "p": p, "lower_tail": float(stats.binom.cdf(k, n, p)),
                      "upper_tail": float(stats.binom.sf(k - 1, n, p))})
    return {"cases": cases}


def mcnemar_fixture():
    cases = []
    for b, c in [(0, 0), (1, 0), (0, 1), (3, 3), (5, 1), (1, 9), (12, 5), (30, 45), (60, 31), (200, 180), (0, 20)]:
        p_statsmodels = float(mcnemar([[0, b], [c, 0]], exact=True).pvalue)
        if b + c > 0:
            p_scipy = float(stats.binomtest(min(b, c), b + c, 0.5).pvalue)
            assert abs(p_scipy - p_statsmodels) < 1e-12, (b, c, p_scipy, p_statsmodels)
        cases.append({"left_only": b, "right_only": c, "p_value": p_statsmodels})
    return {"cases": cases}


def wilson_fixture():
    intervals = []
    for successes, trials, level in [(0, 1, 0.95), (1, 1, 0.95), (0, 20, 0.95), (20, 20, 0.95), (12.5, 20, 0.95),
                                     (10, 20, 0.95), (7.5, 15, 0.95), (300, 461, 0.95), (11, 20, 0.9),
                                     (11, 20, 0.99), (0.5, 1, 0.95), (4, 8, 0.5)]:
        lower, upper = proportion_confint(successes, trials, alpha=1 - level, method="wilson")
        intervals.append({"successes": successes, "trials": trials, "level": level,
                          "lower": float(lower), "upper": float(upper)})
    quantiles = [{"p": p, "z": float(stats.norm.ppf(p))}
                 for p in [1e-10, 0.001, 0.01, 0.02425, 0.025, 0.05, 0.3, 0.5, 0.7, 0.95, 0.975, 0.995, 0.999999]]
    return {"intervals": intervals, "normal_quantiles": quantiles}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, make in [("binomial", binomial_fixture), ("mcnemar", mcnemar_fixture), ("wilson", wilson_fixture),
                       ("bootstrap", bootstrap_fixture)]:
        path = os.path.join(OUT, name + ".json")
        with open(path, "w") as f:
            json.dump(make(), f, indent=1, sort_keys=True)
            f.write("\n")
        print("wrote", os.path.relpath(path))


if __name__ == "__main__":
    main()
