"""Control-chart arithmetic and run rules on sequences whose answer is known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from exoqc.monitor.charts import RULES, ControlChart

# Baseline alternating 9, 11: mean 10, every moving range 2, so σ = 2 / 1.128.
BASELINE = np.array([9.0, 11.0] * 10)
SIGMA = 2 / 1.128


@pytest.fixture
def chart() -> ControlChart:
    return ControlChart().fit(BASELINE)


def test_limits_come_from_the_baseline_mean_and_average_moving_range(chart):
    assert chart.center_ == pytest.approx(10.0)
    assert chart.sigma_ == pytest.approx(SIGMA)
    assert chart.upper_ == pytest.approx(10 + 3 * SIGMA)
    assert chart.mr_upper_ == pytest.approx(3.267 * 2)


def test_a_point_beyond_three_sigma_alarms_only_there(chart):
    values = np.array([10.0, 10.5, 10 + 3.2 * SIGMA, 10.0])
    assert chart.violations(values, ("beyond_3sigma",)) == [(2, "beyond_3sigma")]


def test_two_of_three_beyond_two_sigma_on_one_side(chart):
    high = 10 + 2.3 * SIGMA
    values = np.array([10.0, high, 10.0, high, 10.0])
    assert chart.violations(values, ("2_of_3_beyond_2sigma",)) == [(3, "2_of_3_beyond_2sigma")]
    # Opposite sides do not count together.
    mixed = np.array([10.0, high, 10.0, 10 - 2.3 * SIGMA])
    assert chart.violations(mixed, ("2_of_3_beyond_2sigma",)) == []


def test_eight_in_a_row_on_one_side_alarms_at_the_eighth(chart):
    values = np.full(10, 10 + 0.4 * SIGMA)
    hits = chart.violations(values, ("8_same_side",))
    assert [p for p, _ in hits] == [7, 8, 9]


def test_six_rising_points_are_a_trend_five_are_not(chart):
    rising = 10 + np.linspace(-0.5, 0.5, 6) * SIGMA
    assert chart.violations(rising, ("6_trending",)) == [(5, "6_trending")]
    assert chart.violations(rising[:5], ("6_trending",)) == []


def test_missing_values_are_skipped_not_breaking_a_run(chart):
    values = np.full(9, 10 + 0.4 * SIGMA)
    values[4] = np.nan
    assert chart.violations(values, ("8_same_side",)) == [(8, "8_same_side")]


def test_ewma_catches_a_one_sigma_shift_that_no_single_point_shows(chart):
    values = np.full(30, 10 + 1.0 * SIGMA)
    hits = chart.violations(values, ("beyond_3sigma", "ewma"))
    assert {r for _, r in hits} == {"ewma"}
    # λ = 0.1, L = 2.70: the EWMA of a 1σ shift crosses its limit after about 10 points
    # (1 − 0.9^k ≥ 2.70·√(0.1/1.9·(1 − 0.81^k)): k = 9).
    assert 5 <= hits[0][0] <= 15


def test_moving_range_above_its_limit(chart):
    values = np.array([10.0, 10.0 + 7.0, 10.0])
    assert (1, "moving_range") in chart.violations(values, ("moving_range",))


def test_cpk_against_two_sided_and_one_sided_limits(chart):
    assert chart.cpk(4.0, 13.0) == pytest.approx((13 - 10) / (3 * SIGMA))
    assert chart.cpk(None, 16.0) == pytest.approx(6 / (3 * SIGMA))


def test_unknown_rule_and_short_baseline_are_refused():
    with pytest.raises(ValueError, match="unknown rule"):
        ControlChart().fit(BASELINE).violations(BASELINE, ("nelson_9",))
    with pytest.raises(ValueError, match="at least 2"):
        ControlChart().fit(np.array([1.0, np.nan]))
    assert "beyond_3sigma" in RULES


def _false_alarm_share(estimated: bool, n_sigma: float, rule: str) -> float:
    """Share of in-control points alarmed over 3,000 normal histories, each with its own
    30-batch baseline (a QC team's situation: limits from few batches)."""
    rng = np.random.default_rng(5)
    hits = points = 0
    for _ in range(3000):
        x = rng.standard_normal(50)
        chart = ControlChart(n_sigma=n_sigma, ewma_l=n_sigma, estimated=estimated).fit(x[:30])
        hits += len(chart.violations(x[30:], (rule,)))
        points += 20
    return hits / points


@pytest.mark.parametrize("rule", ["beyond_3sigma", "ewma"])
def test_limits_for_estimated_parameters_keep_the_stated_tail_with_a_30_batch_baseline(rule):
    # Tail 0.27 % per point (3σ). Plugging the 30-batch estimates into the known-σ limits
    # alarms several times as often; the prediction limits keep the rate near 0.27 %
    # (binomial sd of the share over 60,000 points: 0.02 %; EWMA points are correlated).
    plug_in = _false_alarm_share(False, 3.0, rule)
    predicted = _false_alarm_share(True, 3.0, rule)
    assert plug_in > 0.0045
    assert 0.0015 < predicted < 0.0040


def test_family_limits_share_one_charts_tail_over_every_attribute_and_test():
    from scipy import stats

    from exoqc.monitor.run import family_limits

    assert family_limits(1, 1) == (3.0, 2.70, 370.0)  # one chart, one test: the textbook
    n_sigma, ewma_l, cusum_arl0 = family_limits(8, 2)
    assert cusum_arl0 == 16 * 370.0
    assert ewma_l == n_sigma
    assert 16 * 2 * stats.norm.sf(n_sigma) == pytest.approx(0.0027)


def test_a_log_chart_has_its_limits_in_the_attributes_units():
    # log values alternate 4.0, 4.2: centre 4.1, σ = 0.2 / 1.128 on the log scale.
    chart = ControlChart(transform="log").fit(np.exp(np.array([4.0, 4.2] * 10)))
    sigma_log = 0.2 / 1.128
    assert chart.center_ == pytest.approx(4.1)
    assert chart.center_value_ == pytest.approx(np.exp(4.1))
    assert chart.lower_ == pytest.approx(np.exp(4.1 - 3 * sigma_log))
    assert chart.upper_ == pytest.approx(np.exp(4.1 + 3 * sigma_log))
    # Asymmetric in nm: the upper limit is further from the centre than the lower one.
    assert chart.upper_ - chart.center_value_ > chart.center_value_ - chart.lower_
    inside, beyond = np.exp(4.1 + 2.9 * sigma_log), np.exp(4.1 + 3.1 * sigma_log)
    assert chart.violations(np.array([inside, beyond]), ("beyond_3sigma",)) == [
        (1, "beyond_3sigma")]
    # A size of 0 or less has no log: not charted, like an unmeasured batch.
    assert chart.violations(np.array([0.0, beyond]), ("beyond_3sigma",)) == [
        (1, "beyond_3sigma")]
    assert chart.cpk(None, float(np.exp(4.1 + 6 * sigma_log))) == pytest.approx(2.0)


def test_run_rule_zones_widen_like_the_limits_for_an_estimated_sigma():
    from scipy import stats

    plug_in = ControlChart().fit(BASELINE)
    estimated = ControlChart(estimated=True).fit(BASELINE)
    nu = 0.62 * (len(BASELINE) - 1)
    two = stats.t.isf(stats.norm.sf(2.0), nu) * np.sqrt(1 + 1 / len(BASELINE))
    assert estimated.zone(2.0) == pytest.approx(two)
    assert estimated.zone(3.0) == pytest.approx(estimated.limit_sigma_)
    assert plug_in.zone(2.0) == 2.0 and estimated.zone(0.0) == 0.0
    # Two of three at 2.1σ̂: beyond the plug-in 2σ zone, inside the estimated one.
    high = 10 + 2.1 * SIGMA
    values = np.array([10.0, high, high])
    assert plug_in.violations(values, ("2_of_3_beyond_2sigma",)) == [
        (2, "2_of_3_beyond_2sigma")]
    assert estimated.violations(values, ("2_of_3_beyond_2sigma",)) == []
