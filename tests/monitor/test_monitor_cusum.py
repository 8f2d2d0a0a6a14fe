"""The tabular CUSUM, its ARL and the self-starting scores, against values known by hand
or from the literature (Montgomery, Introduction to SQC, 8th ed., Table 9.3)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from exoqc.monitor.charts import ControlChart
from exoqc.monitor.cusum import (
    cusum_h,
    one_sided_arl,
    self_starting_scores,
    tabular_cusum,
    two_sided_arl,
)


def test_tabular_cusum_of_a_short_series_by_hand():
    z = np.array([1.0, 2.0, -0.5, 0.3, -3.0])
    upper, lower = tabular_cusum(z, k=0.5)
    # C+: 1 - .5 = .5; .5 + 2 - .5 = 2; 2 - .5 - .5 = 1; 1 + .3 - .5 = .8; .8 - 3.5 -> 0
    # C-: 0; 0; .5 - .5 = 0; 0; 3 - .5 = 2.5
    np.testing.assert_allclose(upper, [0.5, 2.0, 1.0, 0.8, 0.0])
    np.testing.assert_allclose(lower, [0.0, 0.0, 0.0, 0.0, 2.5])


def test_the_cusum_restarts_after_a_signal():
    z = np.array([1.0, 2.0, -0.5, 0.3, -3.0])
    upper, lower = tabular_cusum(z, k=0.5, h=1.5)
    # 2.0 > 1.5 signals at the second value; both sums restart from 0 after it.
    np.testing.assert_allclose(upper, [0.5, 2.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(lower, [0.0, 0.0, 0.0, 0.0, 2.5])


@pytest.mark.parametrize(("h", "shift", "arl"), [
    (5.0, 0.0, 465.0), (5.0, 1.0, 10.4), (4.0, 0.0, 168.0), (4.0, 1.0, 8.38)])
def test_two_sided_arl_matches_montgomerys_table(h, shift, arl):
    assert two_sided_arl(h, 0.5, shift) == pytest.approx(arl, rel=0.01)


def test_the_decision_interval_for_a_3sigma_charts_arl_and_for_eight_charts():
    assert cusum_h(370.0) == pytest.approx(4.77, abs=0.01)  # Montgomery §9.1.3
    h8 = cusum_h(8 * 370.0)
    assert two_sided_arl(h8) == pytest.approx(8 * 370.0, rel=1e-3)
    # Winsorized scores add less per batch in control: a smaller h holds the same ARL.
    assert cusum_h(370.0, clip=3.0) < cusum_h(370.0)
    assert one_sided_arl(cusum_h(370.0, clip=3.0), clip=3.0) == pytest.approx(740.0, rel=0.01)


def test_self_starting_score_of_one_value_by_hand():
    # After 1, 2, 3 (mean 2, s = 1), the value 6: T = 4 · √(3/4) with n − 2 = 2 d.f.,
    # whose tail is ½(1 − T/√(T² + 2)) in closed form.
    t = 4 * np.sqrt(3 / 4)
    tail = 0.5 * (1 - t / np.sqrt(t**2 + 2))
    u = self_starting_scores(np.array([1.0, 2.0, 3.0, 6.0]), 3)
    assert u == pytest.approx([stats.norm.isf(tail)])
    # After a constant start the same value scores 0 and any other one is beyond any limit.
    assert list(self_starting_scores(np.array([5.0, 5.0, 5.0, 5.0, 6.0]), 3)) == [0.0, np.inf]
    with pytest.raises(ValueError, match="at least 3"):
        self_starting_scores(np.array([1.0, 2.0, 3.0]), 2)


def test_self_starting_scores_are_standard_normal_whatever_the_baseline():
    rng = np.random.default_rng(5)
    # Baselines of 30 from processes of any level and spread, each a different draw:
    # the scores of the 100 batches after each are N(0, 1) all together.
    u = np.concatenate([self_starting_scores(rng.normal(mu, sd, 130), 30)
                        for mu, sd in zip(rng.uniform(-50, 50, 200), rng.uniform(0.1, 9, 200),
                                          strict=True)])
    assert stats.kstest(u, "norm").pvalue > 0.01
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.02


def _first_alarm(rule: str, values: np.ndarray) -> int | None:
    chart = ControlChart(estimated=True).fit(values[:30])
    hits = [p for p, _ in chart.violations(values, (rule,), start=30)]
    return hits[0] - 30 if hits else None


def test_a_slow_linear_drift_is_caught_by_the_cusum_within_the_stated_delay():
    # Seed 3: in control for 30 baseline + 40 batches, then a drift of 0.05σ per batch
    # (1σ after 20 batches). The CUSUM (ARL0 370) alarms 18 batches into the drift
    # (stated: within 20); with the same ARL0 and prediction limits, the EWMA (λ = 0.1)
    # alarms after 29 and the 3σ individuals point after 39.
    rng = np.random.default_rng(3)
    x = rng.standard_normal(130)
    drift = np.concatenate([np.zeros(70), 0.05 * np.arange(1, 61)])
    in_control = _first_alarm("cusum", x[:70])
    assert in_control is None
    first = _first_alarm("cusum", x + drift)
    assert first is not None and 40 <= first <= 40 + 20, first
    for other in ("ewma", "beyond_3sigma"):
        later = _first_alarm(other, x + drift)
        assert later is None or later > first, (other, later)


def test_the_cusum_alarm_rate_in_control_is_its_arl_whatever_the_baseline():
    # Restarted after each signal, the self-starting CUSUM signals on 1/370 of in-control
    # batches (binomial sd over 40,000 batches: 0.03 %); plugging the 30-batch estimates
    # into z = (x − x̄)/σ̂ alarms far more often.
    rng = np.random.default_rng(7)
    self_starting = plug_in = 0
    for _ in range(200):
        x = rng.standard_normal(230)
        self_starting += len(ControlChart(estimated=True).fit(x[:30]).violations(
            x, ("cusum",), start=30))
        plug_in += len(ControlChart().fit(x[:30]).violations(x, ("cusum",), start=30))
    assert 0.0015 < self_starting / 40_000 < 0.0040
    assert plug_in / 40_000 > 0.006
