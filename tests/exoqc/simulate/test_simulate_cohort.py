"""The simulated cohort: instrument-like files, loadable, deterministic, labelled as stated."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exoqc.config import Settings
from exoqc.dataset import load_dataset
from exoqc.errors import ExoqcInputError
from exoqc.markers import resolve_marker
from exoqc.simulate import TRUTH_FILE, simulate_cohort
from exoqc.simulate.parameters import POPULATIONS

METADATA = ["Record Number", "Type", "Sample Name", "Measurement Date and Time",
            "Temperature (°C)", "Viscosity (cP)", "Dispersant RI", "Derived Count Rate (kcps)",
            "Measurement Duration (s)", "Attenuator"]
CSV_KEYS = {"sample_name", "temperature_c", "viscosity_cp", "refractive_index",
            "wavelength_nm", "angle_deg", "count_rate_kcps", "duration_s"}


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_same_seed_gives_the_same_bytes_and_seeds_do_not_share_ids(tmp_path):
    first = files_of(simulate_cohort(tmp_path / "a", 40, seed=5))
    second = files_of(simulate_cohort(tmp_path / "b", 40, seed=5))
    assert first.keys() == second.keys()
    assert all(first[name] == second[name] for name in first)
    other = pd.read_csv(simulate_cohort(tmp_path / "c", 40, seed=6) / "preps.csv")
    same = pd.read_csv(tmp_path / "a" / "preps.csv")
    assert set(other["batch"]).isdisjoint(same["batch"])
    assert set(other["prep_id"]).isdisjoint(same["prep_id"])


def test_folder_loads_without_any_problem(small_cohort):
    dataset = load_dataset(small_cohort, errors="raise")
    assert dataset.problems == []
    preps = dataset.preps
    assert len(preps) == 120
    assert preps["purity_class"].notna().all() and preps["potency_class"].notna().all()
    assert preps["isolation_method"].notna().all()
    assert dataset.markers["symbol"].notna().all()  # every marker name resolves
    # Realistic gaps: some preparations lack DLS, counts, markers or cargo.
    assert 0 < (preps["dls_file"] == "").sum() < 40
    assert 0 < preps["particles_per_ml"].isna().sum() < 30
    assert 0 < preps["protein_ug_per_ml"].isna().sum() < 30
    with_markers = set(dataset.markers["prep_id"])
    assert 60 < len(with_markers) < 120
    assert 20 < dataset.cargo["prep_id"].nunique() < 120
    # Tested-but-not-detected markers are rows with intensity 0, and panels differ.
    assert (~dataset.markers["detected"]).any() and dataset.markers["detected"].mean() > 0.5
    panel_sizes = dataset.markers.groupby("prep_id")["symbol"].nunique()
    assert panel_sizes.min() <= 3 and panel_sizes.max() >= 10
    assert set(dataset.markers["assay"]) <= {"wb", "elisa", "ms"}
    assert (dataset.markers.groupby("run")["prep_id"].nunique() > 1).any()


def test_marker_names_are_the_spellings_labs_use(small_cohort):
    markers = pd.read_csv(small_cohort / "markers.csv")
    names = set(markers["marker"])
    assert all(resolve_marker(name) is not None for name in names)
    symbols = {resolve_marker(n).symbol for n in names}
    assert len(names) > len(symbols)  # the same protein under several names


def test_zetasizer_exports_are_latin1_crlf_wide_tables(small_cohort):
    paths = sorted((small_cohort / "dls").glob("*.txt"))
    assert len(paths) > 50
    for path in paths[:10]:
        raw = path.read_bytes()
        assert raw.count(b"\r\n") == raw.count(b"\n")  # every line ends in CRLF
        assert "µs".encode("latin-1") in raw and "°C".encode("latin-1") in raw
        table = pd.read_csv(path, sep="\t", encoding="latin-1")
        expected = [*METADATA, *(f"Correlation Delay Times[{i}] (µs)" for i in range(1, 193)),
                    *(f"Correlation Data[{i}]" for i in range(1, 193))]
        assert list(table.columns) == expected
        assert len(table) >= 2  # replicate runs of one sample
        assert (table["Type"] == "Size").all()
        assert (table["Sample Name"] == path.stem).all()
        assert np.array_equal(table["Record Number"], table["Record Number"].iloc[0]
                              + np.arange(len(table)))
        lags = table.filter(like="Correlation Delay Times").to_numpy()
        assert (lags == lags[0]).all() and lags[0, 0] == 0.5 and (np.diff(lags[0]) > 0).all()
        data = table.filter(like="Correlation Data").to_numpy()
        assert (data[:, 0] > 0.3).all() and (data[:, 0] <= 1.0).all()
        assert np.abs(data[:, -20:]).max() < 0.05
        assert table["Attenuator"].between(1, 11).all()


def test_generic_csv_correlograms(small_cohort):
    paths = sorted((small_cohort / "dls").glob("*.csv"))
    assert paths, "the small cohort should exercise the generic CSV reader too"
    for path in paths:
        lines = path.read_text(encoding="utf-8").splitlines()
        meta = [line for line in lines if line.startswith("#")]
        assert lines[:len(meta)] == meta  # metadata lines come first
        keys = {re.fullmatch(r"# (\w+): (\S+)", line).group(1) for line in meta}
        assert {"sample_name", "temperature_c", "viscosity_cp"} <= keys <= CSV_KEYS
        assert lines[len(meta)] == "tau_us,g2m1"
        table = pd.read_csv(path, comment="#")
        assert len(table) == 192 and table["tau_us"].iloc[0] == 0.5
        assert (np.diff(table["tau_us"]) > 0).all()


def test_purity_labels_follow_the_true_ev_protein_share(small_cohort):
    truth = pd.read_csv(small_cohort / TRUTH_FILE, index_col="prep_id")
    preps = pd.read_csv(small_cohort / "preps.csv", index_col="prep_id")
    ev = sum(truth[f"{p.name}_protein_ug_per_ml"] for p in POPULATIONS if p.is_ev)
    total = sum(truth[f"{p.name}_protein_ug_per_ml"] for p in POPULATIONS)
    share = ev / total
    expected = np.where(share >= 0.5, "high", np.where(share < 0.1, "low", "medium"))
    assert (preps.loc[truth.index, "purity_class"].to_numpy() == expected).all()
    # Potency is its own thing: some high-purity preparations are subpotent and vice versa.
    crosstab = pd.crosstab(preps["purity_class"], preps["potency_class"])
    assert crosstab.loc["high", "subpotent"] > 0 and crosstab.loc["medium", "potent"] > 0


def test_class_balance_of_the_reference_cohort(tmp_path):
    """Stated bounds (docs/simulator.md): each purity class 20-45 %, potent 35-65 %."""
    settings = Settings(project_dir=tmp_path)
    root = simulate_cohort(tmp_path / "reference", settings.reference_cohort_size,
                           settings.reference_cohort_seed)
    preps = pd.read_csv(root / "preps.csv")
    purity = preps["purity_class"].value_counts(normalize=True)
    for label in ("high", "medium", "low"):
        assert 0.20 <= purity[label] <= 0.45, purity
    assert 0.35 <= (preps["potency_class"] == "potent").mean() <= 0.65
    methods = preps["isolation_method"].map(lambda m: m.lower()).nunique()
    assert methods >= 6


def test_refuses_a_folder_with_other_files(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(ExoqcInputError, match="not empty"):
        simulate_cohort(tmp_path, 5, seed=1)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_rewriting_a_simulation_leaves_no_stale_files(tmp_path):
    simulate_cohort(tmp_path / "c", 30, seed=2)
    simulate_cohort(tmp_path / "c", 5, seed=3)
    dataset = load_dataset(tmp_path / "c")
    stems = {p.stem for p in (tmp_path / "c" / "dls").iterdir()}
    assert stems <= set(dataset.prep_ids)
