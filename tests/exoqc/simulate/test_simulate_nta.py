"""The simulator's NTA exports: opt-in, from the same mixture, read back by exoqc's readers."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from exoqc.dataset import load_dataset
from exoqc.features.build import build_features
from exoqc.features.nta.analysis import analyze_file, analyze_sample
from exoqc.features.nta.readers import read_nta_file
from exoqc.features.nta.table import NTA_DLS_RATIO_MAX
from exoqc.simulate import assays, dls, nta, simulate_cohort
from exoqc.simulate.composition import Composition
from exoqc.simulate.parameters import POPULATION_INDEX as POP
from exoqc.simulate.parameters import POPULATIONS


def _digests(root) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_nta_exports_are_opt_in_and_change_no_other_file(tmp_path):
    plain = simulate_cohort(tmp_path / "plain", 40, 3)
    with_nta = simulate_cohort(tmp_path / "nta", 40, 3, nta_share=0.6)
    before, after = _digests(plain), _digests(with_nta)
    assert not (plain / "nta").exists()
    added = {name for name in after if name.startswith("nta/")}
    assert added and set(after) - added == set(before)
    assert {n for n in before if before[n] != after[n]} == {"preps.csv"}
    old = pd.read_csv(plain / "preps.csv", dtype=str, keep_default_na=False)
    new = pd.read_csv(with_nta / "preps.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(new.drop(columns=["nta_file", "nta_record"]), old)
    assert sorted(f"nta/{p.name}" for p in (with_nta / "nta").iterdir()) == sorted(
        new["nta_file"][new["nta_file"] != ""])
    # Same seed, same share: the same files.
    again = simulate_cohort(tmp_path / "again", 40, 3, nta_share=0.6)
    assert _digests(again) == after


def _mixture(populations: dict[str, tuple[float, float, float]]) -> Composition:
    """One preparation of the given populations: name -> (per mL, median nm, sigma ln)."""
    n = len(POPULATIONS)
    number, median, sigma = np.zeros((1, n)), np.full((1, n), 100.0), np.full((1, n), 0.3)
    index = np.array([[p.refractive_index or 1.39 for p in POPULATIONS]])
    for name, (count, med, sig) in populations.items():
        number[0, POP[name]], median[0, POP[name]], sigma[0, POP[name]] = count, med, sig
    return Composition(preps=pd.DataFrame({"prep_id": ["P"], "batch_index": [0]}),
                       batches=pd.DataFrame(index=[0]), number_per_ml=number,
                       median_nm=median, sigma_ln=sigma, refractive_index=index,
                       protein_density_g_per_cm3=np.ones((1, n)))


def _measurement(populations, instrument: str, seed: int = 0) -> nta.NTAMeasurement:
    comp = _mixture(populations)
    seen = nta.seen_number_per_ml(comp, np.array([60.0]), np.array([1.0]))[0]
    return nta.measure("P", seen, instrument=instrument, threshold_nm=60.0,
                       temperature_c=22.0, rng=np.random.default_rng(seed))


@pytest.mark.parametrize("instrument, suffix", [("nanosight", ".csv"), ("zetaview", ".txt")])
def test_both_layouts_read_back_as_the_measurement(tmp_path, instrument, suffix):
    m = _measurement({"sev": (2e10, 100.0, 0.3)}, instrument)
    path = tmp_path / f"export{suffix}"
    nta.write_export(path, m, "exp")
    [sample] = read_nta_file(path)
    assert sample.instrument == instrument and sample.sample_name == "P"
    assert sample.n_videos == len(m.videos)
    result = analyze_sample(sample)
    expected = np.mean([v.concentration_per_ml for v in m.videos])
    assert result.concentration_per_ml == pytest.approx(expected, rel=1e-3)
    # The tracks' own mean: exoqc sees them through 1 nm (NanoSight) or 5 nm (ZetaView)
    # bins, whose centre stands for each track: within half a bin.
    half_bin = 0.5 if instrument == "nanosight" else 2.5
    assert result.mean_nm == pytest.approx(np.mean([v.sizes_nm.mean() for v in m.videos]),
                                           abs=half_bin)
    assert result.dilution_factor == m.dilution
    assert "reported_disagreement" not in result.flags


def test_zetaview_export_states_the_median_of_its_tracks():
    m = _measurement({"sev": (2e10, 100.0, 0.3)}, "zetaview")
    text = nta.zetaview_text(m, "exp")
    tracks = m.videos[0].sizes_nm
    assert f"Median Number (D50):\t{np.median(tracks):.6f}\r\n" in text
    # by volume: the size below which half the tracks' summed d³ lies
    volume = np.sort(tracks) ** 3
    by_volume = np.sort(tracks)[np.argmax(np.cumsum(volume) >= volume.sum() / 2)]
    assert f"Median Volume (D50):\t{by_volume:.6f}\r\n" in text


def test_nta_does_not_see_most_lipoproteins_and_exomeres():
    populations = {"sev": (1e10, 100.0, 0.3), "hdl": (1e11, 10.0, 0.15),
                   "ldl": (1e11, 22.0, 0.1), "exomere": (1e11, 35.0, 0.2)}
    efficiency = assays.nta_efficiency(_mixture(populations), np.array([60.0]))[0]
    assert efficiency[POP["hdl"]] < 1e-3 and efficiency[POP["ldl"]] < 0.01
    assert efficiency[POP["exomere"]] < 0.2 < 0.5 < efficiency[POP["sev"]]
    # Ten times more of each of them than small EVs by number (3.1e11 particles/mL in
    # all): NTA counts about the EVs and the largest exomeres.
    m = _measurement(populations, "nanosight")
    concentration = np.mean([v.concentration_per_ml for v in m.videos])
    assert 0.5e10 < concentration < 3e10


def _dls_file(path, comp: Composition) -> None:
    geometry = (632.8, 173.0)
    indices = comp.refractive_index[0]
    mie = dls.mie_intensity_table(indices, *geometry)
    fraction = dls.size_distribution(comp.median_nm[0], comp.sigma_ln[0])
    reference = float(dls.mie_intensity_table([1.39], *geometry)[0][
        np.searchsorted(dls.DIAMETER_GRID_NM, 100.0)])
    [record] = dls.measure_records(
        sample_name="P", number_per_ml=comp.number_per_ml[0], size_fraction=fraction, mie=mie,
        reference_intensity=reference, temperature_c=25.0, beta0=0.9,
        wavelength_nm=geometry[0], angle_deg=geometry[1], n_records=1, first_record=1,
        timestamps=["01 March 2018 10:00:00"], rng=np.random.default_rng(1))
    dls.write_generic_csv(path, record)


def test_aggregates_make_dls_and_nta_disagree(tmp_path):
    clean = {"sev": (2e10, 100.0, 0.3)}
    aggregated = {**clean, "protein_aggregate": (5e8, 450.0, 0.35)}
    root = tmp_path / "ds"
    (root / "dls").mkdir(parents=True)
    (root / "nta").mkdir()
    for name, populations in (("clean", clean), ("aggregated", aggregated)):
        _dls_file(root / "dls" / f"{name}.csv", _mixture(populations))
        nta.write_export(root / "nta" / f"{name}.csv",
                         _measurement(populations, "nanosight"), name)
    (root / "preps.csv").write_text(
        "prep_id,dls_file,nta_file\nclean,dls/clean.csv,nta/clean.csv\n"
        "aggregated,dls/aggregated.csv,nta/aggregated.csv\n")
    table = build_features(load_dataset(root), n_jobs=1)
    assert table.errors == {}
    frame = table.frame
    ratio = frame["nta_dls_z_average_to_mode"]
    assert ratio["clean"] < NTA_DLS_RATIO_MAX < ratio["aggregated"]
    assert frame.loc["clean", "nta_dls_disagreement"] == 0
    assert frame.loc["aggregated", "nta_dls_disagreement"] == 1
    # NTA's number-weighted sizes barely move: aggregates are few by number.
    assert abs(frame.loc["aggregated", "nta_mode_nm"] - frame.loc["clean", "nta_mode_nm"]) < 10


def test_simulated_cohort_exports_are_read_and_analysed(tmp_path):
    root = simulate_cohort(tmp_path / "c", 30, 8, nta_share=1.0)
    preps = pd.read_csv(root / "preps.csv", dtype=str, keep_default_na=False)
    files = preps["nta_file"][preps["nta_file"] != ""]
    assert len(files) >= 25
    kinds = set()
    for name, prep_id in zip(files, preps["prep_id"][files.index], strict=True):
        [result] = analyze_file(root / name)
        kinds.add(result.instrument)
        assert result.sample_name == prep_id and 30 < result.mode_nm < 300
    assert kinds <= {"nanosight", "zetaview"}
