"""Paired differences over seeds: ``report --versus METHOD`` (and ``compare --versus``).

Two runs of the same seed share the class order, the initialisation and the data order, so
their difference varies less from seed to seed than either number: for every row, the
difference of average incremental accuracy to the reference row is taken seed by seed, over
the seeds both rows have, and summarised by its mean and a 95% confidence interval (Student t
over seeds):

    mean ± t_{0.975, n-1} * sd / sqrt(n)       (sd: sample standard deviation, ddof = 1)

The interval says where the mean difference over many seeds would lie, at 95% confidence, if
the seeds' differences scatter normally; with 3 seeds t is 4.30, so the interval is wide. A
row marked ``*`` has an interval that excludes 0. A row with fewer than 2 shared seeds has no
interval. scipy's t quantile is used when scipy is installed, else the table below.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Mapping

# t_{0.975, df} for df = 1..30 (two-sided 95%)
T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
        2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
        2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423)
_Z975 = 1.959964


def t_quantile(df: int) -> float:
    """t_{0.975, df}: scipy's when it is installed, else the table (df <= 30) or the
    Cornish-Fisher expansion around the normal quantile (df > 30, within 1e-4)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1 (got {df})")
    try:
        from scipy.stats import t
    except ImportError:
        if df <= len(T975):
            return T975[df - 1]
        z = _Z975
        return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2))
    return float(t.ppf(0.975, df))


@dataclass(frozen=True)
class Paired:
    """The paired difference of one row to the reference row (percentage points)."""

    n: int                      # seeds both rows have
    mean: float | None          # mean difference (None without a shared seed)
    low: float | None = None    # the 95% interval (None with fewer than 2 shared seeds)
    high: float | None = None

    @property
    def excludes_zero(self) -> bool:
        return self.low is not None and (self.low > 0 or self.high < 0)

    def text(self) -> str:
        """'+1.23 [+0.36, +2.10] *' ('*': the interval excludes 0); a note below 2 seeds."""
        if self.n == 0 or self.mean is None:
            return "no shared seed"
        if self.low is None:
            return f"{self.mean:+.2f} (1 shared seed: no interval)"
        return (f"{self.mean:+.2f} [{self.low:+.2f}, {self.high:+.2f}]"
                + (" *" if self.excludes_zero else ""))


def paired_difference(values: Mapping[int, float], reference: Mapping[int, float]) -> Paired:
    """``values`` - ``reference`` over the seeds both have (seed -> number)."""
    seeds = sorted(set(values) & set(reference))
    diffs = [values[s] - reference[s] for s in seeds]
    if not diffs:
        return Paired(0, None)
    mean = statistics.fmean(diffs)
    if len(diffs) < 2:
        return Paired(1, mean)
    half = t_quantile(len(diffs) - 1) * statistics.stdev(diffs) / math.sqrt(len(diffs))
    return Paired(len(diffs), mean, mean - half, mean + half)


__all__ = ["Paired", "T975", "paired_difference", "t_quantile"]
