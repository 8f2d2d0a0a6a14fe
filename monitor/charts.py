"""Control charts of one quality attribute: individuals / moving range, EWMA, run rules, Cpk.

Written with numpy rather than an SPC package: the PyPI candidates (pyspc 0.4, last
released 2016; shewhart 0.1, capstat-core 0.4, spc-lib 1.1, controlcharts 1.0 and
similar single-author packages) are unmaintained or months old, and the arithmetic is a
few lines of textbook formulas (Montgomery, *Introduction to Statistical Quality
Control*, 8th ed., ch. 6 and 9), each stated here:

- individuals chart: centre = baseline mean, σ = MR̄ / d2 (d2 = 1.128 for moving ranges
  of two), limits centre ± 3σ; moving-range chart: UCL = D4 · MR̄ (D4 = 3.267).
- EWMA: z_i = λ x_i + (1 − λ) z_{i−1}, z_0 = centre, λ = 0.1; limits
  centre ± L σ √(λ/(2−λ) · (1 − (1−λ)^{2i})), L = 2.70 (in-control ARL ≈ 370 for λ = 0.1,
  Lucas & Saccucci 1990; 361 simulated), the same ARL0 as a 3σ individuals chart. A small
  λ averages over about 2/λ − 1 = 19 batches: it catches small and slow shifts the
  individuals point misses, and one outlying batch moves it by only λ of its deviation: a
  chart of the process's level, not of single batches (the spec limits are). With known
  parameters it is robust to non-normal data at λ ≈ 0.05-0.1 (Borror, Montgomery &
  Runger 1999; Montgomery §9.2), where the individuals point's tail is the data's own.
- transforms: an attribute may be charted on the log scale (``transform="log"``: sizes,
  whose spread is a ratio); the limits are computed there and given back in the
  attribute's units (``lower_``, ``upper_``), the EWMA and the moving range stay on the
  chart's scale.
- run rules (Western Electric Handbook 1956; Nelson, J Qual Technol 1984), on
  z = (x − centre)/σ:

  ``beyond_3sigma`` one point beyond the individuals limits, 3σ (WE 1, Nelson 1)
  ``2_of_3_beyond_2sigma`` two of three in a row beyond 2σ, same side (WE 2, Nelson 5)
  ``4_of_5_beyond_1sigma`` four of five in a row beyond 1σ, same side (WE 3, Nelson 6)
  ``8_same_side`` eight in a row on one side of the centre (WE 4)
  ``6_trending`` six in a row steadily rising or falling (Nelson 3)
  ``moving_range`` a moving range above D4 · MR̄
  ``ewma`` the EWMA beyond its limits
  ``cusum`` the tabular CUSUM beyond its decision interval (:mod:`exoqc.monitor.cusum`)

  A 3σ individuals chart alone alarms on 0.27 % of in-control points (ARL0 ≈ 370); the
  four Western Electric rules together bring ARL0 down to about 92 (Champ & Woodall 1987),
  which is the price of catching small sustained shifts sooner.
- Cpk = min(USL − μ, μ − LSL) / 3σ with the chart's μ and σ (within-batch σ from MR̄).
- limits for estimated parameters (``estimated=True``, what ``exoqc monitor`` uses): the
  centre and σ come from m baseline batches, so a future in-control point x differs from
  the centre by Var(x − x̄) = σ²(1 + 1/m), and σ̂ = MR̄/d2 carries the uncertainty of
  about ν = 0.62(m − 1) degrees of freedom (Nelson 1982; checked by simulation: ν = 17.7
  for m = 30). The individuals limits are then the prediction limits of one future
  observation, centre ± t_ν(1 − a/2) σ̂ √(1 + 1/m), with a = the two-sided normal tail of
  ``n_sigma``; the EWMA gets the same t factor for its L and the centre's error in its
  variance, σ̂² (λ/(2−λ)·(1 − (1−λ)^{2i}) + (1 − (1−λ)^i)²/m). Under normality each point
  then alarms with probability a whatever m is; plugging the estimates into the
  known-parameter formulas instead alarms 6× (individuals) and 10× (EWMA) as often at
  m = 30 and a = 0.034 % (simulated), which is most of the false alarms it had. The run
  rules' zones get the same treatment (:meth:`ControlChart.zone`): the 1σ and 2σ zones
  become the widths with the same tail probability for a future batch.

- CUSUM (``cusum``, the default alarm; :mod:`exoqc.monitor.cusum` for the equations):
  the two-sided tabular CUSUM (Page 1954), k = 0.5σ, of each monitored batch's
  standardized value, restarted after each signal. With ``estimated=True`` the values are
  Hawkins' self-starting scores (each batch against the mean and standard deviation of
  the baseline and every measured batch after it up to the one before), which are
  independent N(0, 1) for normal in-control data whatever the baseline's estimates came
  out as; without it, (x − centre)/σ with the baseline's estimates plugged in. The
  scores are winsorized at ±3 (Hawkins 1993: one outlying batch adds at most 2.5 to the
  sum instead of its full tail) and h is the decision interval whose two-sided in-control
  ARL for winsorized N(0, 1) scores is ``cusum_arl0`` (Brook & Evans 1972 Markov chain):
  6.77 for ARL0 = 370 × 8, 4.73 for 370.

Missing values (an attribute not measured for a batch) are skipped: rules look at the
sequence of measured batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from exoqc.monitor.cusum import CUSUM_K, cusum_h, self_starting_scores, tabular_cusum

D2 = 1.128
D4 = 3.267
EWMA_LAMBDA = 0.1
EWMA_L = 2.70
MR_DEGREES_OF_FREEDOM_PER_POINT = 0.62  # ν ≈ 0.62 (m − 1) for σ̂ = MR̄/d2
CUSUM_ARL0 = 370.0  # the in-control ARL of one 3σ individuals chart
CUSUM_CLIP = 3.0  # winsorize standardized scores here (Hawkins 1993)

RULES: dict[str, str] = {
    "beyond_3sigma": "one point beyond 3σ",
    "2_of_3_beyond_2sigma": "two of three in a row beyond 2σ on one side",
    "4_of_5_beyond_1sigma": "four of five in a row beyond 1σ on one side",
    "8_same_side": "eight in a row on one side of the centre",
    "6_trending": "six in a row steadily rising or falling",
    "moving_range": "moving range above its upper limit",
    "ewma": "EWMA beyond its limits",
    "cusum": "CUSUM beyond its decision interval (a sustained shift or drift)",
}
DEFAULT_RULES = ("cusum",)
"""One self-starting CUSUM per attribute: on held-out histories it alarms less often than
the EWMA and catches every injected change sooner (docs/monitor.md#measured). The
individuals point (``beyond_3sigma``) and the run rules are each several times the
false-alarm target on their own (the individuals point's tail is the attribute's own, and
the EV marker ratios and Z-average have heavy tails); ``--rule`` adds them. A single
batch's acceptance is the spec limits' job (certificates), the process's stability the
CUSUM's."""


TRANSFORMS = ("identity", "log")
"""Fixed transforms an attribute is charted on: ``log`` for sizes (multiplicative
errors, a size distribution's spread is a ratio)."""


@dataclass
class ChartPoints:
    """Per batch, in history order: value, moving range, EWMA and its limits (NaN where
    the attribute was not measured). Moving range and EWMA are on the chart's scale
    (after the transform), the value in the attribute's own units."""

    value: np.ndarray
    moving_range: np.ndarray
    ewma: np.ndarray
    ewma_lower: np.ndarray
    ewma_upper: np.ndarray


@dataclass
class CusumPoints:
    """Per batch, in history order: the upper and lower CUSUM (in σ, ≥ 0) and whether the
    chart signalled there (it restarts from 0 after). NaN / False before ``start`` and
    where the attribute was not measured."""

    upper: np.ndarray
    lower: np.ndarray
    signal: np.ndarray


class ControlChart:
    """Individuals / moving-range and EWMA chart of one attribute, limits from a baseline.

    Parameters
    ----------
    n_sigma : width of the individuals limits (known parameters).
    ewma_lambda, ewma_l : EWMA weight and limit width (known parameters).
    estimated : widen both, and the run rules' zones, for the baseline's estimation error
        (prediction limits of a future batch, module docstring); the widths used are
        ``limit_sigma_`` and ``ewma_limit_``.
    transform : a fixed transform of the values (:data:`TRANSFORMS`) before anything else.
    cusum_arl0 : in-control ARL of the CUSUM (``h_`` is chosen for it).

    Attributes
    ----------
    center_, sigma_ : centre and σ on the chart's scale (after the transform).
    center_value_ : the centre in the attribute's own units.
    lower_, upper_ : the individuals limits in the attribute's own units.
    h_ : the CUSUM's decision interval, in σ.
    """

    def __init__(self, n_sigma: float = 3.0, ewma_lambda: float = EWMA_LAMBDA,
                 ewma_l: float = EWMA_L, estimated: bool = False,
                 transform: str = "identity", cusum_arl0: float = CUSUM_ARL0) -> None:
        self.n_sigma = n_sigma
        self.ewma_lambda = ewma_lambda
        self.ewma_l = ewma_l
        self.estimated = estimated
        self.transform = transform
        self.cusum_arl0 = cusum_arl0

    def fit(self, baseline: np.ndarray) -> ControlChart:
        """Centre and σ from the baseline's measured values (at least two)."""
        if self.transform not in TRANSFORMS:
            raise ValueError(f"unknown transform {self.transform!r}: expected one of "
                             f"{', '.join(TRANSFORMS)}")
        values = self.scale(baseline)
        values = values[np.isfinite(values)]
        if len(values) < 2:
            raise ValueError(f"a chart needs at least 2 measured baseline batches, got "
                             f"{len(values)}")
        self.center_ = float(values.mean())
        self.mr_bar_ = float(np.abs(np.diff(values)).mean())
        # A constant baseline has no spread; a tiny σ keeps z finite and flags any change.
        self.sigma_ = max(self.mr_bar_ / D2, 1e-12 * max(abs(self.center_), 1.0))
        self.n_baseline_ = len(values)
        self.baseline_scaled_ = values
        self.h_ = cusum_h(self.cusum_arl0, CUSUM_K, CUSUM_CLIP)
        self.limit_sigma_ = self.zone(self.n_sigma)
        self.ewma_limit_ = self.ewma_l
        if self.estimated:
            self.ewma_limit_ = float(stats.t.isf(stats.norm.sf(self.ewma_l), self.dof_))
        self.lower_, self.upper_ = self.inverse(
            np.array([self.center_ - self.limit_sigma_ * self.sigma_,
                      self.center_ + self.limit_sigma_ * self.sigma_]))
        self.center_value_ = float(self.inverse(np.array([self.center_]))[0])
        self.mr_upper_ = D4 * self.mr_bar_
        return self

    @property
    def dof_(self) -> float:
        """Degrees of freedom of σ̂ = MR̄/d2 (ν ≈ 0.62 (m − 1))."""
        return MR_DEGREES_OF_FREEDOM_PER_POINT * (self.n_baseline_ - 1)

    def zone(self, k: float) -> float:
        """Width, in σ̂, of the zone a known-parameter chart puts at kσ: the same tail
        probability for a future batch when ``estimated`` (t with ν, √(1 + 1/m))."""
        if not self.estimated or k <= 0:
            return k
        m = self.n_baseline_
        return float(stats.t.isf(stats.norm.sf(k), self.dof_) * np.sqrt(1 + 1 / m))

    def scale(self, values: np.ndarray) -> np.ndarray:
        """Values on the chart's scale (NaN where unmeasured or outside the transform)."""
        x = np.asarray(values, dtype=float)
        if self.transform == "log":
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.log(np.where(x > 0, x, np.nan))
        return x

    def inverse(self, x: np.ndarray) -> np.ndarray:
        """Chart scale back to the attribute's units."""
        x = np.asarray(x, dtype=float)
        return np.exp(x) if self.transform == "log" else x

    def points(self, values: np.ndarray) -> ChartPoints:
        """Moving ranges and the EWMA over the measured values, placed back in order."""
        values = np.asarray(values, dtype=float)
        scaled = self.scale(values)
        measured = np.flatnonzero(np.isfinite(scaled))
        x = scaled[measured]
        mr = np.full(len(values), np.nan)
        mr[measured[1:]] = np.abs(np.diff(x))
        z = np.empty(len(x))
        level = self.center_
        for i, v in enumerate(x):
            level = self.ewma_lambda * v + (1 - self.ewma_lambda) * level
            z[i] = level
        steps = np.arange(1, len(x) + 1)
        lam = self.ewma_lambda
        variance = lam / (2 - lam) * (1 - (1 - lam) ** (2 * steps))
        if self.estimated:  # z_0 is the estimated centre: its error stays in z_i − x̄
            variance = variance + (1 - (1 - lam) ** steps) ** 2 / self.n_baseline_
        half = self.ewma_limit_ * self.sigma_ * np.sqrt(variance)
        out = [np.full(len(values), np.nan) for _ in range(3)]
        for array, part in zip(out, (z, self.center_ - half, self.center_ + half), strict=True):
            array[measured] = part
        return ChartPoints(values, mr, *out)

    def cusum(self, values: np.ndarray, start: int = 0) -> CusumPoints:
        """The CUSUM of the measured values from position ``start`` on (the baseline's come
        before it): self-starting scores when ``estimated``, else plug-in ones; winsorized
        at ±3 and restarted after each signal (module docstring)."""
        values = np.asarray(values, dtype=float)
        scaled = self.scale(values)
        after = np.flatnonzero(np.isfinite(scaled) & (np.arange(len(values)) >= start))
        x = scaled[after]
        if self.estimated and len(self.baseline_scaled_) >= 3:
            z = self_starting_scores(np.concatenate([self.baseline_scaled_, x]),
                                     len(self.baseline_scaled_))
        else:  # two baseline batches leave no degrees of freedom for a t: plug in
            z = (x - self.center_) / self.sigma_
        upper, lower = tabular_cusum(np.clip(z, -CUSUM_CLIP, CUSUM_CLIP), CUSUM_K, self.h_)
        out = CusumPoints(np.full(len(values), np.nan), np.full(len(values), np.nan),
                          np.zeros(len(values), dtype=bool))
        out.upper[after], out.lower[after] = upper, lower
        out.signal[after] = (upper > self.h_) | (lower > self.h_)
        return out

    def violations(self, values: np.ndarray, rules: tuple[str, ...] = DEFAULT_RULES,
                   start: int = 0) -> list[tuple[int, str]]:
        """(position, rule) of every point that completes a rule's pattern, in order; the
        CUSUM charts the values from position ``start`` on (:meth:`cusum`)."""
        unknown = [r for r in rules if r not in RULES]
        if unknown:
            raise ValueError(f"unknown rule(s) {', '.join(unknown)}: expected {', '.join(RULES)}")
        pts = self.points(values)
        measured = np.flatnonzero(np.isfinite(pts.ewma))
        z = (self.scale(pts.value[measured]) - self.center_) / self.sigma_
        hits: dict[str, np.ndarray] = {
            "beyond_3sigma": np.abs(z) > self.limit_sigma_,
            "2_of_3_beyond_2sigma": _k_of_n(z, 2, 3, self.zone(2.0)),
            "4_of_5_beyond_1sigma": _k_of_n(z, 4, 5, self.zone(1.0)),
            "8_same_side": _k_of_n(z, 8, 8, 0.0),
            "6_trending": _trend(z, 6),
            "moving_range": pts.moving_range[measured] > self.mr_upper_,
            "ewma": ((pts.ewma[measured] > pts.ewma_upper[measured])
                     | (pts.ewma[measured] < pts.ewma_lower[measured])),
        }
        out = [(int(measured[i]), rule) for rule in rules if rule != "cusum"
               for i in np.flatnonzero(hits[rule])]
        if "cusum" in rules:
            out += [(int(i), "cusum") for i in np.flatnonzero(self.cusum(values, start).signal)]
        return sorted(out)

    def cpk(self, lower: float | None, upper: float | None) -> float:
        """Process capability against the spec limits given (one side when one is None),
        on the chart's scale: the spec limits are transformed like the values."""
        sides = []
        if upper is not None:
            sides.append((float(self.scale(np.array([upper]))[0]) - self.center_)
                         / (3 * self.sigma_))
        if lower is not None:
            sides.append((self.center_ - float(self.scale(np.array([lower]))[0]))
                         / (3 * self.sigma_))
        sides = [v for v in sides if np.isfinite(v)]
        return float(min(sides)) if sides else float("nan")


def _k_of_n(z: np.ndarray, k: int, n: int, level: float) -> np.ndarray:
    """True at i when at least k of z[i-n+1..i] are beyond ``level`` on the same side
    (and the point itself is one of them, so that an alarm names a point that counts)."""
    out = np.zeros(len(z), dtype=bool)
    above, below = z > level, z < -level
    for i in range(n - 1, len(z)):
        window = slice(i - n + 1, i + 1)
        out[i] = ((above[i] and above[window].sum() >= k)
                  or (below[i] and below[window].sum() >= k))
    return out


def _trend(z: np.ndarray, n: int) -> np.ndarray:
    """True at i when z[i-n+1..i] rise or fall strictly at every step."""
    out = np.zeros(len(z), dtype=bool)
    step = np.sign(np.diff(z))
    for i in range(n - 1, len(z)):
        run = step[i - n + 1:i]
        out[i] = bool(np.all(run > 0) or np.all(run < 0))
    return out
