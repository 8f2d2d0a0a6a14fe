"""DLS features of each preparation: one row per prep, replicate records aggregated.

The records of a prep are those of its ``dls_file`` selected by ``dls_record`` (a sample
name: every record of that name; else a 1-based record number); without ``dls_record``,
every record of the file. Each record is analysed (:func:`analyze_record`); the prep's
feature is the mean over its records, and the spread of the Z-average and PDI between
records is reported as well. A prep without a DLS file gets NaN; a prep whose file cannot
be read or analysed gets NaN and an error message naming the file, the record and what
is wrong.

Large batches are analysed in a process pool (chunks of preps per task); small ones, or
``n_jobs=1``, in this process.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pandas as pd

from exoqc.config import DLS_DEFAULTS
from exoqc.dataset import Dataset
from exoqc.errors import ExoqcInputError
from exoqc.features.catalog import FeatureInfo
from exoqc.features.dls.analysis import SIZE_CLASS_BOUNDARIES_NM, DLSResult, analyze_record
from exoqc.features.dls.distribution import mode_diameter_nm
from exoqc.features.dls.flags import FLAGS, MULTIMODAL_MIN_SHARE
from exoqc.features.dls.readers import WEIGHTINGS, DLSRecord, read_dls_file
from exoqc.features.dls.speed import single_threaded_blas

__all__ = [
    "DLS_FEATURES",
    "PARALLEL_MIN_PREPS",
    "aggregate_records",
    "dls_feature_table",
    "record_features",
    "select_records",
]

PARALLEL_MIN_PREPS = 200
"""Below this many preps with DLS, a process pool costs more than it saves."""
_CHUNKS_PER_WORKER = 4
_SOURCE = "DLS"

_EDGES = [f"{b:g}" for b in SIZE_CLASS_BOUNDARIES_NM]
_CLASS_SUFFIXES = (f"lt{_EDGES[0]}nm", *(f"{a}_{b}nm" for a, b in itertools.pairwise(_EDGES)),
                   f"gt{_EDGES[-1]}nm")
_CLASS_LABELS = (f"< {_EDGES[0]} nm", *(f"{a}–{b} nm" for a, b in itertools.pairwise(_EDGES)),
                 f"> {_EDGES[-1]} nm")
_CLASS_MEANING = (
    "free protein, lipoproteins, exomeres",
    "the small-EV (exosome) range",
    "large EVs, small aggregates",
    "large EVs, aggregates",
    "apoptotic bodies, aggregates, dust",
)
_MEAN_NOTE = "Mean over the prep's replicate records."


def _catalog() -> tuple[FeatureInfo, ...]:
    entries = [
        FeatureInfo("dls_z_average_nm", "DLS Z-average", "nm",
                    "Intensity-weighted harmonic mean hydrodynamic diameter from the ISO 22412 "
                    f"cumulant fit of the correlogram. {_MEAN_NOTE}", _SOURCE),
        FeatureInfo("dls_pdi", "DLS polydispersity index", "1",
                    "ISO 22412 polydispersity index μ2/Γ̄² (0 = one size; > 0.7 too broad for "
                    f"cumulants). {_MEAN_NOTE}", _SOURCE),
    ]
    for weighting in WEIGHTINGS:
        for suffix, label, meaning in zip(_CLASS_SUFFIXES, _CLASS_LABELS, _CLASS_MEANING,
                                          strict=True):
            entries.append(FeatureInfo(
                f"dls_{weighting}_share_{suffix}", f"DLS {weighting} share {label}",
                "fraction",
                f"Share of the {weighting}-weighted size distribution in the class {label} "
                f"({meaning}). {_MEAN_NOTE}", _SOURCE))
    for weighting in WEIGHTINGS:
        entries.append(FeatureInfo(
            f"dls_mode_{weighting}_nm", f"DLS {weighting} mode", "nm",
            f"Most frequent diameter (highest point) of the {weighting}-weighted size "
            f"distribution. {_MEAN_NOTE}", _SOURCE))
    for weighting in WEIGHTINGS:
        for q in ("10", "50", "90"):
            entries.append(FeatureInfo(
                f"dls_d{q}_{weighting}_nm", f"DLS D{q} by {weighting}", "nm",
                f"Diameter below which {q} % of the {weighting}-weighted distribution lies. "
                f"{_MEAN_NOTE}", _SOURCE))
        entries.append(FeatureInfo(
            f"dls_span_{weighting}", f"DLS span by {weighting}", "1",
            f"(D90 − D10)/D50 of the {weighting}-weighted distribution. {_MEAN_NOTE}",
            _SOURCE))
    entries += [
        FeatureInfo("dls_n_peaks", "DLS intensity peaks", "count",
                    f"Number of intensity peaks holding at least {MULTIMODAL_MIN_SHARE:.0%} of "
                    f"the intensity. {_MEAN_NOTE}", _SOURCE),
        FeatureInfo("dls_main_peak_share", "DLS main peak share", "fraction",
                    f"Intensity share of the largest peak. {_MEAN_NOTE}", _SOURCE),
        FeatureInfo("dls_main_peak_width_nm", "DLS main peak width", "nm",
                    f"Standard deviation of the diameter within the largest intensity peak. "
                    f"{_MEAN_NOTE}", _SOURCE),
        FeatureInfo("dls_intercept", "DLS intercept", "1",
                    "Intercept β of the cumulant fit (signal coherence; good: 0.1–1). "
                    f"{_MEAN_NOTE}", _SOURCE),
        FeatureInfo("dls_fit_residual", "DLS cumulant fit residual", "fraction of intercept",
                    f"RMS misfit of the cumulant fit over the early decay. {_MEAN_NOTE}",
                    _SOURCE),
        FeatureInfo("dls_inversion_residual", "DLS size-fit residual", "fraction of intercept",
                    f"RMS misfit of the regularized size-distribution fit. {_MEAN_NOTE}",
                    _SOURCE),
        FeatureInfo("dls_baseline_deviation", "DLS baseline deviation", "fraction of intercept",
                    "Mean g2 − 1 over the last 10 % of lags (0 for a clean baseline). "
                    f"{_MEAN_NOTE}", _SOURCE),
        FeatureInfo("dls_count_rate_kcps", "DLS count rate", "kcps",
                    f"Photon count rate reported with the measurement. {_MEAN_NOTE}", _SOURCE),
        FeatureInfo("dls_intensity_below_1nm", "DLS fast-decay share", "fraction",
                    "Intensity share decaying faster than a 1 nm particle (detector "
                    f"afterpulsing/dead time). {_MEAN_NOTE}", _SOURCE),
        FeatureInfo("dls_intensity_above_10um", "DLS slow-decay share", "fraction",
                    "Intensity share decaying slower than a 10 µm particle (baseline drift, "
                    f"sedimenting dust). {_MEAN_NOTE}", _SOURCE),
        FeatureInfo("dls_minor_components_share", "DLS unresolved specks", "fraction",
                    "Intensity in isolated components below 1 %, left out of volume and "
                    f"number. {_MEAN_NOTE}", _SOURCE),
    ]
    for flag in FLAGS:
        entries.append(FeatureInfo(
            f"dls_flag_{flag}", f"DLS flag: {flag.replace('_', ' ')}", "fraction",
            f"Share of the prep's records flagged '{flag}' (0 or 1 for one record; see "
            "docs/dls.md for the rule).", _SOURCE))
    entries += [
        FeatureInfo("dls_n_records", "DLS records", "count",
                    "Number of DLS records (replicates, or angles of a multi-angle file) "
                    "analysed for the prep.", _SOURCE),
        FeatureInfo("dls_z_average_sd_nm", "DLS Z-average spread", "nm",
                    "Sample standard deviation of the Z-average between the prep's records "
                    "(NaN with one record).", _SOURCE),
        FeatureInfo("dls_z_average_cv", "DLS Z-average CV", "fraction",
                    "Coefficient of variation of the Z-average between records (NaN with one "
                    "record).", _SOURCE),
        FeatureInfo("dls_pdi_sd", "DLS PDI spread", "1",
                    "Sample standard deviation of the PDI between records (NaN with one "
                    "record).", _SOURCE),
    ]
    return tuple(entries)


DLS_FEATURES: tuple[FeatureInfo, ...] = _catalog()
_COLUMNS = [f.name for f in DLS_FEATURES]
_SPREAD_COLUMNS = ("dls_n_records", "dls_z_average_sd_nm", "dls_z_average_cv", "dls_pdi_sd")


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else float(value)


def record_features(result: DLSResult) -> dict[str, float]:
    """The per-record features (everything but the replicate spread) of one analysis."""
    row: dict[str, float] = {
        "dls_z_average_nm": _nan_if_none(result.z_average_nm),
        "dls_pdi": _nan_if_none(result.pdi),
    }
    for weighting in WEIGHTINGS:
        shares = result.class_shares(weighting)
        for suffix, share in zip(_CLASS_SUFFIXES, shares, strict=True):
            row[f"dls_{weighting}_share_{suffix}"] = float(share)
    for weighting in WEIGHTINGS:
        distribution = result.distribution(weighting)
        row[f"dls_mode_{weighting}_nm"] = (
            math.nan if distribution is None or result.diameter_nm is None
            else mode_diameter_nm(result.diameter_nm, distribution))
    for weighting in WEIGHTINGS:
        d10, d50, d90 = result.d_values_nm(weighting)
        row[f"dls_d10_{weighting}_nm"] = d10
        row[f"dls_d50_{weighting}_nm"] = d50
        row[f"dls_d90_{weighting}_nm"] = d90
        row[f"dls_span_{weighting}"] = (d90 - d10) / d50
    main = result.peaks[0] if result.peaks else None
    row.update({
        "dls_n_peaks": (float(sum(p.share >= MULTIMODAL_MIN_SHARE for p in result.peaks))
                        if result.intensity is not None else math.nan),
        "dls_main_peak_share": main.share if main else math.nan,
        "dls_main_peak_width_nm": main.width_nm if main else math.nan,
        "dls_intercept": _nan_if_none(result.intercept),
        "dls_fit_residual": _nan_if_none(result.fit_residual),
        "dls_inversion_residual": _nan_if_none(result.inversion_residual),
        "dls_baseline_deviation": _nan_if_none(result.baseline_deviation),
        "dls_count_rate_kcps": _nan_if_none(result.count_rate_kcps),
        "dls_intensity_below_1nm": _nan_if_none(result.intensity_below_range),
        "dls_intensity_above_10um": _nan_if_none(result.intensity_above_range),
        "dls_minor_components_share": _nan_if_none(result.minor_components_share),
    })
    for flag in FLAGS:
        row[f"dls_flag_{flag}"] = float(flag in result.flags)
    return row


def aggregate_records(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """Mean of each per-record feature over replicates, plus the spread between them."""
    names = list(rows[0])
    values = np.array([[row[name] for name in names] for row in rows], dtype=float)
    measured = ~np.isnan(values)
    counts = measured.sum(axis=0)
    means = np.where(measured, values, 0.0).sum(axis=0) / np.maximum(counts, 1)
    out = dict(zip(names, np.where(counts > 0, means, np.nan).tolist(), strict=True))
    z = values[:, names.index("dls_z_average_nm")]
    z = z[~np.isnan(z)]
    pdi = values[:, names.index("dls_pdi")]
    pdi = pdi[~np.isnan(pdi)]
    out["dls_n_records"] = float(len(rows))
    out["dls_z_average_sd_nm"] = float(np.std(z, ddof=1)) if z.size > 1 else math.nan
    out["dls_z_average_cv"] = (out["dls_z_average_sd_nm"] / float(z.mean())
                               if z.size > 1 else math.nan)
    out["dls_pdi_sd"] = float(np.std(pdi, ddof=1)) if pdi.size > 1 else math.nan
    return out


def select_records(records: Sequence[DLSRecord], selector: str, file: str) -> list[DLSRecord]:
    """The records a prep's ``dls_record`` names (see the module docstring)."""
    selector = selector.strip()
    if not selector:
        return list(records)
    named = [r for r in records if r.sample_name == selector]
    if not named:
        named = [r for r in records if r.sample_name.casefold() == selector.casefold()]
    if named:
        return named
    if selector.isdigit() and 1 <= int(selector) <= len(records):
        return [records[int(selector) - 1]]
    names = sorted({r.sample_name for r in records if r.sample_name})
    shown = ", ".join(f"'{n}'" for n in names[:10]) + (" ..." if len(names) > 10 else "")
    raise ExoqcInputError(
        file, f"dls_record '{selector}' matches no record: expected a sample name "
        f"({shown or 'none in the file'}) or a record number 1..{len(records)}")


def _prep_features(
    items: Sequence[tuple[str, str, str]], particle_refractive_index: float
) -> list[tuple[str, dict[str, float] | None, str | None]]:
    """Features of (prep_id, DLS path, dls_record) items; files shared by preps read once."""
    files: dict[str, list[DLSRecord] | str] = {}
    analyses: dict[tuple[str, int], DLSResult] = {}
    out = []
    with single_threaded_blas():
        for prep_id, path, selector in items:
            out.append(_one_prep(prep_id, path, selector, files, analyses,
                                 particle_refractive_index))
    return out


def _one_prep(
    prep_id: str, path: str, selector: str, files: dict, analyses: dict,
    particle_refractive_index: float,
) -> tuple[str, dict[str, float] | None, str | None]:
    try:
        if path not in files:
            try:
                files[path] = read_dls_file(Path(path))
            except ExoqcInputError as exc:
                files[path] = str(exc)  # every prep of this file gets the same message
        records = files[path]
        if isinstance(records, str):
            return prep_id, None, records
        rows = []
        for record in select_records(records, selector, path):
            key = (path, record.record)
            if key not in analyses:
                analyses[key] = analyze_record(
                    record, particle_refractive_index=particle_refractive_index)
            rows.append(record_features(analyses[key]))
        return prep_id, aggregate_records(rows), None
    except ExoqcInputError as exc:
        return prep_id, None, str(exc)
    except (ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:
        # A numerical failure on input the readers accepted is this preparation's problem,
        # not the batch's: the rest of the batch is analysed, and the message says where.
        return prep_id, None, (f"{path}: the DLS analysis failed on this file "
                               f"({type(exc).__name__}: {exc}); please report it with the file")


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Interrupted (Ctrl-C, SIGTERM, an error): end the workers now rather than let them
    finish their chunks, which leaving the ``with`` block would wait for, or outlive us."""
    # No public API before Python 3.14 (ProcessPoolExecutor.terminate_workers); shutdown
    # forgets the processes, so they are taken first.
    workers = dict(getattr(pool, "_processes", None) or {})
    pool.shutdown(wait=False, cancel_futures=True)
    for worker in workers.values():
        if worker.is_alive():
            worker.terminate()


def _pool_context() -> multiprocessing.context.BaseContext:
    """forkserver: workers start from a clean process (fork is unsafe once the caller has
    threads, e.g. MLflow's), without spawn's full re-import in every worker."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # The server imports the analysis once; each worker forks from it ready to go.
    context.set_forkserver_preload([__name__])
    return context


def dls_feature_table(
    dataset: Dataset,
    prep_ids: Sequence[str] | None = None,
    n_jobs: int = 1,
    progress: Callable[[int], None] | None = None,
    *,
    particle_refractive_index: float = DLS_DEFAULTS.particle_refractive_index,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """DLS features, one row per prep (index ``prep_id``, in the given order), and errors.

    Columns are ``[f.name for f in DLS_FEATURES]`` (float). A prep without DLS has NaN; a
    prep whose DLS could not be used has NaN and a message in the returned dict. ``progress``
    is called with the number of preps done so far.
    """
    ids = list(dataset.prep_ids if prep_ids is None else prep_ids)
    unknown = [p for p in ids if p not in dataset.preps.index]
    if unknown:
        raise KeyError(f"prep_id(s) not in the dataset: {', '.join(map(str, unknown[:10]))}")
    rows: dict[str, dict[str, float]] = {}
    errors: dict[str, str] = {}
    items = []
    for prep_id in ids:
        path = dataset.dls_path(prep_id)
        if path is not None:
            selector = dataset.preps.at[prep_id, "dls_record"] if (
                "dls_record" in dataset.preps) else ""
            selector = selector if isinstance(selector, str) else ""
            items.append((prep_id, str(path), selector))
    done = len(ids) - len(items)
    if progress is not None:
        progress(done)

    def collect(results) -> None:
        nonlocal done
        for prep_id, features, error in results:
            if error is not None:
                errors[prep_id] = error
            else:
                rows[prep_id] = features
        done += len(results)
        if progress is not None:
            progress(done)

    if n_jobs > 1 and len(items) >= PARALLEL_MIN_PREPS:
        workers = min(n_jobs, len(items))
        size = max(1, math.ceil(len(items) / (workers * _CHUNKS_PER_WORKER)))
        chunks = [items[i: i + size] for i in range(0, len(items), size)]
        done_chunks = 0
        try:
            with ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context()) as pool:
                try:
                    futures = [pool.submit(_prep_features, chunk, particle_refractive_index)
                               for chunk in chunks]
                    for future in futures:
                        collect(future.result())
                        done_chunks += 1
                except BaseException:
                    _stop_workers(pool)
                    raise
        except BrokenProcessPool as exc:
            # Workers could not start (e.g. a __main__ that cannot be re-imported, such as
            # a script read from stdin): the results do not depend on the pool, so go on here.
            warnings.warn(f"DLS process pool failed ({exc}); analysing in this process",
                          RuntimeWarning, stacklevel=2)
            for chunk in chunks[done_chunks:]:
                collect(_prep_features(chunk, particle_refractive_index))
    else:
        size = max(1, math.ceil(len(items) / 20))  # progress about every 5 %
        for i in range(0, len(items), size):
            collect(_prep_features(items[i: i + size], particle_refractive_index))
    table = pd.DataFrame.from_dict(rows, orient="index", dtype=float)
    table = table.reindex(index=pd.Index(ids, name="prep_id"), columns=_COLUMNS)
    return table.astype(float), errors
