"""NTA features of each preparation: one row per prep, from its ``nta_file``.

The sample of a prep is the one its ``nta_record`` names (a sample name, else a 1-based
record number); without ``nta_record``, the file's only sample, or the one named like the
prep. A prep without an NTA file gets NaN features; a prep whose file cannot be read gets
NaN and an error message naming the file, the line and what is wrong (in a batch only that
prep fails).

Besides the sample's own values, three features combine NTA with other measurements:
particles per µg of BCA protein, the DLS Z-average over the NTA mode (DLS weighs particles
by the sixth power of their size, NTA counts them: aggregates and large contaminants raise
the Z-average far more than the number mode), and whether ``particles_per_ml`` written in
``preps.csv`` disagrees with the export. :func:`particles_from_nta` gives the
concentration the feature table uses when ``particles_per_ml`` is empty.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from exoqc.dataset import PREPS_FILE, Dataset
from exoqc.errors import ExoqcInputError
from exoqc.features.catalog import FeatureInfo
from exoqc.features.nta.analysis import BAND_NAMES, FLAGS, NTAResult, analyze_sample
from exoqc.features.nta.readers import NTASample, read_nta_file

__all__ = [
    "COUNTS_SPREAD_FACTOR",
    "COUNTS_SPREAD_MIN",
    "NTA_DLS_RATIO_MAX",
    "NTA_FEATURES",
    "nta_feature_table",
    "particles_from_nta",
    "result_features",
    "select_sample",
]

_SOURCE = "NTA"
NTA_DLS_RATIO_MAX = 2.0
"""DLS Z-average over NTA mode above which the two disagree. The intensity-weighted
Z-average of a log-normal EV population lies above the number mode NTA sees; on a
simulated cohort the ratio's quartiles are 1.46-2.01 for high-purity preparations and
1.73-5.03 for low-purity ones (docs/nta.md, benchmarks/nta_speed.py): above 2 the light DLS
sees comes from particles NTA hardly counts, aggregates and large debris."""
COUNTS_SPREAD_FACTOR = 3.0
COUNTS_SPREAD_MIN = 0.05
"""``particles_per_ml`` in preps.csv and the export disagree when they differ by more than
3 × the export's spread between videos (coefficient of variation), and at least 3 × 5 %
(NTA's repeatability between videos, ASTM E2834-12): three standard deviations of the
measurement itself, so that one prep in ~300 is flagged by chance."""
_BAND_LABELS = {"below_50nm": "below 50 nm", "50_100nm": "50-100 nm",
                "100_150nm": "100-150 nm", "150_300nm": "150-300 nm",
                "above_300nm": "above 300 nm"}
_NOTE = "exoqc's value from the export's distribution (mean over its videos)."


def _catalog() -> tuple[FeatureInfo, ...]:
    entries = [
        FeatureInfo("nta_concentration_per_ml", "NTA particle concentration", "particles/mL",
                    "Particles per mL of the preparation from the NTA export's distribution "
                    "(sum over size bins, mean over videos), dilution-corrected; of the "
                    "measured suspension when the export has no dilution factor (see the "
                    "dilution flag).", _SOURCE),
        FeatureInfo("nta_mean_nm", "NTA mean diameter", "nm",
                    f"Number-weighted mean diameter of the particles NTA tracked. {_NOTE}",
                    _SOURCE),
        FeatureInfo("nta_mode_nm", "NTA mode diameter", "nm",
                    f"Most frequent diameter (smoothed distribution). {_NOTE}", _SOURCE),
        FeatureInfo("nta_sd_nm", "NTA size spread", "nm",
                    f"Standard deviation of the number distribution. {_NOTE}", _SOURCE),
    ]
    for q in ("10", "50", "90"):
        entries.append(FeatureInfo(
            f"nta_d{q}_nm", f"NTA D{q}", "nm",
            f"Diameter below which {q} % of the tracked particles lie. {_NOTE}", _SOURCE))
    entries.append(FeatureInfo("nta_span", "NTA span", "1",
                               f"(D90 − D10)/D50 of the number distribution. {_NOTE}", _SOURCE))
    for band in BAND_NAMES:
        entries.append(FeatureInfo(
            f"nta_share_{band}", f"NTA share {_BAND_LABELS[band]}", "fraction",
            f"Share of the particles NTA counted with a diameter {_BAND_LABELS[band]} "
            "(all videos pooled).", _SOURCE))
    entries += [
        FeatureInfo("nta_n_videos", "NTA videos", "count",
                    "Number of videos (replicate captures) in the NTA export.", _SOURCE),
        FeatureInfo("nta_concentration_cv", "NTA video-to-video CV", "fraction",
                    "Coefficient of variation of the concentration between the export's "
                    "videos (NaN with one video).", _SOURCE),
        FeatureInfo("nta_mean_cv", "NTA mean-size CV between videos", "fraction",
                    "Coefficient of variation of the mean diameter between videos (NaN with "
                    "one video).", _SOURCE),
        FeatureInfo("nta_particles_per_frame", "NTA particles per frame", "count",
                    "Particles in the field of view per frame, mean over videos, as the "
                    "instrument reports it.", _SOURCE),
        FeatureInfo("nta_valid_tracks", "NTA tracks", "count",
                    "Completed (valid) particle tracks in all videos together.", _SOURCE),
    ]
    for flag in FLAGS:
        entries.append(FeatureInfo(
            f"nta_flag_{flag}", f"NTA flag: {flag.replace('_', ' ')}", "0/1",
            f"1 when exoqc flagged the NTA export '{flag}' (docs/nta.md says the rule).",
            _SOURCE))
    entries += [
        FeatureInfo("nta_log10_particles_per_ug", "NTA particles per µg protein",
                    "log10 particles/µg",
                    "log10 of the NTA export's concentration per µg of BCA protein "
                    "(protein_ug_per_ml): the particle-to-protein purity ratio from the "
                    "instrument file. Empty without BCA, without a dilution factor or with "
                    "a zero count.", "NTA/BCA"),
        FeatureInfo("nta_dls_z_average_to_mode", "DLS Z-average / NTA mode", "ratio",
                    "DLS Z-average over the NTA mode diameter: about 1.5-2 for pure EV "
                    "preparations, higher when aggregates or large contaminants dominate the "
                    "scattered light that NTA's number count hardly sees.", "NTA/DLS"),
        FeatureInfo("nta_dls_disagreement", "NTA and DLS disagree", "0/1",
                    f"1 when the DLS Z-average is more than {NTA_DLS_RATIO_MAX:g}× the NTA "
                    "mode (aggregates or large particles).", "NTA/DLS"),
        FeatureInfo("nta_counts_disagreement", "NTA export and particles_per_ml disagree",
                    "0/1",
                    "1 when preps.csv's particles_per_ml and the NTA export's concentration "
                    f"differ by more than {COUNTS_SPREAD_FACTOR:g}× the export's spread "
                    f"between videos (at least {COUNTS_SPREAD_FACTOR * COUNTS_SPREAD_MIN:.0%}); "
                    "empty unless both are given.", "NTA"),
    ]
    return tuple(entries)


NTA_FEATURES: tuple[FeatureInfo, ...] = _catalog()
_COLUMNS = [f.name for f in NTA_FEATURES]


def _value(value: float | None) -> float:
    return math.nan if value is None else float(value)


def result_features(result: NTAResult) -> dict[str, float]:
    """The features of one analysed sample (without those that need DLS, BCA or preps.csv)."""
    row = {
        "nta_concentration_per_ml": _value(result.concentration_per_ml),
        "nta_mean_nm": result.mean_nm, "nta_mode_nm": result.mode_nm,
        "nta_sd_nm": result.sd_nm, "nta_d10_nm": result.d10_nm,
        "nta_d50_nm": result.d50_nm, "nta_d90_nm": result.d90_nm, "nta_span": result.span,
    }
    for band, share in result.band_shares.items():
        row[f"nta_share_{band}"] = share
    row.update({
        "nta_n_videos": float(result.n_videos),
        "nta_concentration_cv": _value(result.concentration_cv),
        "nta_mean_cv": _value(result.mean_cv),
        "nta_particles_per_frame": _value(result.particles_per_frame),
        "nta_valid_tracks": _value(result.valid_tracks),
    })
    for flag in FLAGS:
        row[f"nta_flag_{flag}"] = float(flag in result.flags)
    return row


def select_sample(samples: Sequence[NTASample], selector: str, prep_id: str,
                  file: str) -> NTASample:
    """The sample a prep's ``nta_record`` names (see the module docstring)."""
    selector = selector.strip()
    if not selector:
        if len(samples) == 1:
            return samples[0]
        named = [s for s in samples if s.sample_name == prep_id]
        if len(named) == 1:
            return named[0]
        raise ExoqcInputError(
            file, f"holds {len(samples)} samples and nta_record is empty: expected "
            f"nta_record naming the prep's sample (name or number 1..{len(samples)})")
    for match in (lambda s: s.sample_name == selector,
                  lambda s: s.sample_name.casefold() == selector.casefold()):
        named = [s for s in samples if match(s)]
        if named:
            return named[0]
    if selector.isdigit() and 1 <= int(selector) <= len(samples):
        return samples[int(selector) - 1]
    names = ", ".join(f"'{s.sample_name}'" for s in samples[:10])
    raise ExoqcInputError(
        file, f"nta_record '{selector}' matches no sample: expected a sample name ({names}) "
        f"or a record number 1..{len(samples)}")


def _column(frame: pd.DataFrame, name: str, index: pd.Index) -> pd.Series:
    if name not in frame:
        return pd.Series(np.nan, index=index, dtype=float)
    return pd.to_numeric(frame[name], errors="coerce").reindex(index).astype(float)


def nta_feature_table(
    dataset: Dataset, prep_ids: Sequence[str] | None = None,
    dls: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict[str, str], dict[str, list[str]]]:
    """NTA features, one row per prep (index ``prep_id``, in the given order), the error
    message of each prep whose export could not be used, and warnings.

    Columns are ``[f.name for f in NTA_FEATURES]`` (float). ``dls``: the DLS feature table
    of the same preps (for the NTA/DLS agreement); without it that agreement is NaN.
    """
    ids = list(dataset.prep_ids if prep_ids is None else prep_ids)
    index = pd.Index(ids, name="prep_id")
    rows: dict[str, dict[str, float]] = {}
    errors: dict[str, str] = {}
    files: dict[str, list[NTASample] | str] = {}
    has_record = "nta_record" in dataset.preps
    for prep_id in ids:
        path = dataset.nta_path(prep_id)
        if path is None:
            continue
        key = str(path)
        if key not in files:
            try:
                files[key] = read_nta_file(Path(key))
            except ExoqcInputError as exc:
                files[key] = str(exc)  # every prep of this file gets the same message
        samples = files[key]
        if isinstance(samples, str):
            errors[prep_id] = samples
            continue
        selector = dataset.preps.at[prep_id, "nta_record"] if has_record else ""
        try:
            sample = select_sample(samples, selector if isinstance(selector, str) else "",
                                   prep_id, key)
            rows[prep_id] = result_features(analyze_sample(sample))
        except ExoqcInputError as exc:
            errors[prep_id] = str(exc)
    table = pd.DataFrame.from_dict(rows, orient="index", dtype=float)
    table = table.reindex(index=index, columns=_COLUMNS).astype(float)

    preps = dataset.preps
    concentration = table["nta_concentration_per_ml"].where(
        table["nta_flag_dilution_missing"] == 0)
    protein = _column(preps, "protein_ug_per_ml", index)
    usable = (concentration > 0) & (protein > 0)
    table["nta_log10_particles_per_ug"] = np.log10(
        concentration.where(usable) / protein.where(usable))
    if dls is not None and "dls_z_average_nm" in dls:
        z_average = dls["dls_z_average_nm"].reindex(index).astype(float)
        mode = table["nta_mode_nm"].where(table["nta_mode_nm"] > 0)
        ratio = z_average / mode
        table["nta_dls_z_average_to_mode"] = ratio
        table["nta_dls_disagreement"] = (ratio > NTA_DLS_RATIO_MAX).astype(float).where(
            ratio.notna())
    given = _column(preps, "particles_per_ml", index)
    spread = np.maximum(table["nta_concentration_cv"].fillna(0.0), COUNTS_SPREAD_MIN)
    both = given.notna() & concentration.notna() & (concentration > 0)
    difference = (given - concentration).abs() / concentration
    disagree = difference > COUNTS_SPREAD_FACTOR * spread
    table["nta_counts_disagreement"] = disagree.astype(float).where(both)
    warnings: dict[str, list[str]] = {}
    for prep_id in index[(disagree & both).to_numpy()]:
        warnings.setdefault(prep_id, []).append(
            f"{PREPS_FILE}, column 'particles_per_ml': {given[prep_id]:.3g} differs from the "
            f"NTA export's {concentration[prep_id]:.3g} particles/mL by "
            f"{difference[prep_id]:.0%}, more than {COUNTS_SPREAD_FACTOR:g}× the "
            "measurement's spread between videos; the feature table keeps preps.csv's value "
            "and flags the disagreement")
    return table, errors, warnings


def particles_from_nta(preps: pd.DataFrame, nta: pd.DataFrame) -> pd.DataFrame:
    """``preps`` with ``particles_per_ml`` taken from the NTA export where it is empty and
    the export's concentration is dilution-corrected (a copy; ``preps`` is unchanged)."""
    index = preps.index
    concentration = nta["nta_concentration_per_ml"].reindex(index).where(
        nta["nta_flag_dilution_missing"].reindex(index) == 0)
    given = _column(preps, "particles_per_ml", index)
    out = preps.copy()
    out["particles_per_ml"] = given.fillna(concentration)
    return out
