"""What a scientist opens in a scoring run: per-prep waterfalls, batch summary, HTML report."""

from html.parser import HTMLParser

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.patches import FancyArrow

from exoqc import tracking
from exoqc.dataset import load_dataset
from exoqc.features import build_features, label_of
from exoqc.inference import report
from exoqc.inference.score import Scorer, ScoreSettings
from exoqc.model.values import plot_label, value_text
from tests.figures import cut_off


@pytest.fixture(scope="module")
def scored(trained_store):
    """The first 12 preps of the small cohort scored by the session's champions; the
    second prep's protein count blanked (a measurement not taken) and the third marked as
    an input error."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", trained_store.uri)
        tracking.configure()
        scorer = Scorer.load(ScoreSettings())
    cohort = load_dataset(trained_store.cohort)
    dataset = cohort.subset(cohort.preps.index[:12].tolist())
    features = build_features(dataset, n_jobs=1).frame
    features.iloc[1, features.columns.get_loc("protein_ug_per_ml")] = np.nan
    error_id = str(features.index[2])
    errors = {error_id: ["preps.csv line 4: particles_per_ml 'many' is not a number <b>"]}
    scores, explained = scorer.score_features(features, errors, {})
    return scorer, dataset, features, scores, explained, error_id


def _ok_row(scores, prep_id: str) -> int:
    return list(scores.loc[scores["status"] == "ok", "prep_id"]).index(prep_id)


def test_waterfall_names_the_prep_and_class_and_shows_values_with_units(scored):
    scorer, _, features, scores, explained, _ = scored
    prep_id = str(features.index[1])
    fig = scorer.explainers["purity"].waterfall(explained["purity"], _ok_row(scores, prep_id),
                                                prep_id)
    try:
        title = fig._suptitle.get_text()
        predicted = scores.set_index("prep_id").at[prep_id, "purity_class"]
        assert prep_id in title and f"'{predicted}' purity" in title
        assert "log-odds" in title and "E[f(X)]" in title and "f(x)" in title
        assert cut_off(fig) == ""
        # every feature shown as "value = label", the value as a lab record writes it
        feature_of = {plot_label(label_of(c)): c for c in features.columns}
        shown = [t.get_text() for t in fig.axes[0].get_yticklabels() if " = " in t.get_text()]
        assert len(shown) == 11  # max_display 12: 11 features and "94 other features"
        for label in shown:
            value, name = label.split(" = ", 1)
            assert value == value_text(feature_of[name], features.at[prep_id, feature_of[name]])
    finally:
        plt.close(fig)


def _values_cut_by_their_bar(fig) -> list[str]:
    """Bar values written inside a bar (centred) that are wider than the bar."""
    ax = fig.axes[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    bars = {round(float(np.mean(bar.get_xy()[:, 1]))): bar
            for bar in ax.patches if isinstance(bar, FancyArrow)}
    cut = []
    for text in ax.texts:
        bar = bars[round(text.get_position()[1])]
        inside = text.get_horizontalalignment() == "center"
        if inside and text.get_window_extent(renderer).width > bar.get_window_extent(
                renderer).width:
            cut.append(text.get_text())
    return cut


def test_waterfalls_keep_every_value_readable(scored):
    scorer, _, _, scores, explained, _ = scored
    ok_ids = scores.loc[scores["status"] == "ok", "prep_id"].tolist()
    for target in ("purity", "potency"):
        for row, prep_id in enumerate(ok_ids[:4]):
            fig = scorer.explainers[target].waterfall(explained[target], row, prep_id)
            try:
                assert len(fig.axes[0].texts) == 12, (target, prep_id)  # one per bar
                assert _values_cut_by_their_bar(fig) == [], (target, prep_id)
                assert cut_off(fig) == "", (target, prep_id)
            finally:
                plt.close(fig)


def test_batch_summary_fits_and_counts_the_batch(scored):
    _, _, _, scores, explained, _ = scored
    fig = report.batch_summary_figure(scores, explained)
    try:
        assert cut_off(fig) == ""
        assert fig.get_size_inches()[0] <= 8.5
        n_ok = int((scores["status"] == "ok").sum())
        assert f"{len(scores)} preparations, {n_ok} scored, 1 with input errors" in (
            fig._suptitle.get_text())
        counts = fig.axes[0]
        bar_heights = {t.get_text(): p.get_height()
                       for t, p in zip(counts.get_xticklabels(), counts.patches, strict=True)}
        expected = scores["purity_class"].value_counts()
        assert bar_heights == {c: expected.get(c, 0) for c in ("high", "medium", "low")}
    finally:
        plt.close(fig)


class _Cells(HTMLParser):
    """Text of each table cell, per table."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(" ".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def test_html_report_lists_every_prep_once_with_errors_escaped(scored):
    _, dataset, _, scores, _, error_id = scored
    figure_preps = report.figure_preps(scores, 2)
    figures = {p: [report.figure_name(p, t) for t in ("purity", "potency")]
               for p in figure_preps}
    page = report.html_report(dataset, scores, "data:image/png;base64,", figures)
    assert "is not a number &lt;b&gt;" in page and "is not a number <b>" not in page
    parser = _Cells()
    parser.feed(page)
    first, everything = parser.tables
    assert [row[0] for row in first[1:]] == figure_preps
    assert first[1][-1].split() == figures[figure_preps[0]]
    header, *rows = everything
    assert [row[0] for row in rows] == scores["prep_id"].tolist()
    column = {name: i for i, name in enumerate(header)}
    by_id = {row[0]: row for row in rows}
    assert by_id[error_id][column["status"]] == "error"
    assert "is not a number <b>" in by_id[error_id][column["notes"]]
    assert by_id[error_id][column["P(high)"]] == ""
    ok = scores[scores["status"] == "ok"].iloc[0]
    assert float(by_id[ok["prep_id"]][column["P(high)"]]) == pytest.approx(
        ok["p_purity_high"], abs=0.005)
    assert float(by_id[ok["prep_id"]][column["P(low)"]]) == pytest.approx(
        ok["p_purity_low"], abs=0.005)

