"""NTA forward model: from a preparation's particle populations to the exports a NanoSight
or ZetaView writes (docs/simulator.md, "NTA exports").

The particles NTA counts are those of :func:`exoqc.simulate.assays.nta_seen_fractions`,
the same detection model as the ``particles_per_ml`` count: scattering at 90° (488 nm)
above the batch's camera threshold (an EV of 50-80 nm, so most lipoproteins, exomeres and
soluble protein are never seen; index matters, Mie), half the particles above 1 µm lost to
settling, and the batch's calibration bias. Then, as a lab measures:

- the lab dilutes the preparation to about 60 particles per frame from a rough guess of
  its concentration (a log-normal error of a factor ~1.6), on a 1-2-5 dilution ladder;
- each video counts particles in a field of view of ``FIELD_VOLUME_ML`` for its frames:
  the number of valid tracks is Poisson around particles per frame × frames / frames per
  track, with a small drift between videos (settling, focus);
- each tracked particle's size is estimated from a short track: a log-normal sizing error of
  ``SIZING_SIGMA`` (the 100 nm polystyrene beads in ../shared/realdata/nta, whose
  manufacturer CV is ~3 %, come out with an SD of 12-19 nm);
- the instrument reports per-bin concentrations of the original sample (NanoSight, 1 nm
  bins to 1,000 nm, when the dilution factor was entered) or of the measured suspension
  (ZetaView, 5 nm classes, with its ``Dilution::`` line).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter1d

from exoqc.simulate.assays import nta_seen_fractions
from exoqc.simulate.composition import Composition
from exoqc.simulate.dls import DIAMETER_GRID_NM

FIELD_VOLUME_ML = 1.0e-7
"""Imaged volume of one frame: NanoSight's field is ~100 × 80 µm with ~10 µm depth of
field (8e-8 mL); 1e9 particles/mL give ~100 particles per frame (Malvern's NS300 range
1e7-1e9 /mL for 20-100 per frame)."""
TARGET_PER_FRAME = 60.0
DILUTION_GUESS_SIGMA = 0.5
FRAMES_PER_TRACK = 25.0
"""Frames per valid track: beads2.csv has 113 particles per frame × 499 frames over ~1,900
valid tracks per video (26 frames)."""
VIDEO_DRIFT_SIGMA = 0.04
SIZING_SIGMA = 0.12
ZETAVIEW_SHARE = 0.3
"""Share of the labs (batches) with a ZetaView rather than a NanoSight."""
DILUTION_RECORDED = 0.95
NANOSIGHT_VIDEOS = (3, 5)
NANOSIGHT_VIDEO_PROBABILITIES = (0.6, 0.4)
NANOSIGHT_FRAMES = (749, 1498)  # 30 s or 60 s at 25 fps
ZETAVIEW_FRAMES = 11 * 2 * 60  # 11 positions × 2 cycles × 60 frames
NANOSIGHT_BINS_NM = np.arange(0.0, 1001.0)
ZETAVIEW_BINS_NM = np.arange(5.0, 1005.0, 5.0)
_LOG_STEP = float(np.log(DIAMETER_GRID_NM[1] / DIAMETER_GRID_NM[0]))


@dataclass(frozen=True)
class NTAVideo:
    """One simulated video: the sizes of its valid tracks and what the instrument derives."""

    sizes_nm: NDArray[np.float64]
    particles_per_frame: float
    concentration_per_ml: float
    """Of the original sample when the dilution is applied, else of the measured suspension."""


@dataclass(frozen=True)
class NTAMeasurement:
    """One preparation's NTA measurement, ready to be written in either layout."""

    sample_name: str
    instrument: str
    videos: tuple[NTAVideo, ...]
    dilution: float
    dilution_recorded: bool
    frames: int
    threshold_diameter_nm: float
    temperature_c: float


def seen_number_per_ml(comp: Composition, threshold_nm: NDArray, bias: NDArray) -> NDArray:
    """Particles per mL NTA counts on the diameter grid: (n_preps, n_grid)."""
    seen = np.zeros((comp.number_per_ml.shape[0], DIAMETER_GRID_NM.size))
    for k, fraction in nta_seen_fractions(comp, threshold_nm):
        seen += comp.number_per_ml[:, k, None] * fraction
    return seen * np.asarray(bias)[:, None]


def _dilution(concentration_per_ml: float, rng: np.random.Generator) -> float:
    """The 1-2-5 step a lab would pick for ~60 particles per frame from a rough guess."""
    guess = concentration_per_ml * rng.lognormal(0.0, DILUTION_GUESS_SIGMA)
    wanted = max(guess * FIELD_VOLUME_ML / TARGET_PER_FRAME, 1.0)
    ladder = np.array([1.0, 2.0, 5.0, 10.0])
    decade = 10.0 ** np.floor(np.log10(wanted))
    return float(decade * ladder[np.searchsorted(ladder, wanted / decade * (1 - 1e-12))])


def measure(sample_name: str, seen_per_ml: NDArray, *, instrument: str, threshold_nm: float,
            temperature_c: float, rng: np.random.Generator) -> NTAMeasurement | None:
    """An NTA measurement of particles seen on the diameter grid (None: nothing to see)."""
    total = float(seen_per_ml.sum())
    if not total > 0:
        return None
    # Sizing error: a Gaussian in ln d, on the log-spaced grid.
    broadened = gaussian_filter1d(seen_per_ml, SIZING_SIGMA / _LOG_STEP, mode="constant")
    probability = broadened / broadened.sum()
    dilution = _dilution(total, rng)
    recorded = bool(rng.random() < DILUTION_RECORDED) if instrument == "nanosight" else True
    if instrument == "nanosight":
        n_videos = int(rng.choice(NANOSIGHT_VIDEOS, p=NANOSIGHT_VIDEO_PROBABILITIES))
        frames = int(rng.choice(NANOSIGHT_FRAMES))
        top = NANOSIGHT_BINS_NM[-1]
    else:
        n_videos, frames, top = 1, ZETAVIEW_FRAMES, ZETAVIEW_BINS_NM[-1]
    per_frame = total / dilution * FIELD_VOLUME_ML
    videos = []
    for _ in range(n_videos):
        expected_tracks = per_frame * rng.lognormal(0.0, VIDEO_DRIFT_SIGMA) * frames / (
            FRAMES_PER_TRACK)
        n = int(rng.poisson(expected_tracks))
        cells = rng.choice(DIAMETER_GRID_NM.size, size=n, p=probability)
        sizes = DIAMETER_GRID_NM[cells] * np.exp(rng.uniform(-0.5, 0.5, n) * _LOG_STEP)
        sizes = np.sort(sizes[sizes < top])
        measured_per_frame = sizes.size * FRAMES_PER_TRACK / frames
        concentration = measured_per_frame / FIELD_VOLUME_ML * (dilution if recorded else 1.0)
        videos.append(NTAVideo(sizes, measured_per_frame, concentration))
    if not any(v.sizes_nm.size for v in videos):
        return None
    return NTAMeasurement(sample_name, instrument, tuple(videos), dilution, recorded, frames,
                          threshold_nm, temperature_c)


# --------------------------------------------------------------------------- NanoSight


def _video_distribution(video: NTAVideo, edges: NDArray) -> NDArray:
    counts, _ = np.histogram(video.sizes_nm, edges)
    return counts * (video.concentration_per_ml / max(video.sizes_nm.size, 1))


def _instrument_statistics(video: NTAVideo) -> dict[str, float]:
    """What the instrument prints per video: from the tracks themselves (mean, SD,
    percentiles) and, for the mode, the top of a 9-nm moving average of 1 nm bins."""
    sizes = video.sizes_nm
    if not sizes.size:
        return dict.fromkeys(("Mean", "Mode", "SD", "D10", "D50", "D90"), 0.0)
    counts, _ = np.histogram(sizes, NANOSIGHT_BINS_NM)
    smooth = np.convolve(counts, np.ones(9) / 9, mode="same")
    d10, d50, d90 = np.percentile(sizes, [10, 50, 90])
    return {"Mean": float(sizes.mean()), "Mode": float(np.argmax(smooth) + 0.5),
            "SD": float(sizes.std()), "D10": float(d10), "D50": float(d50), "D90": float(d90)}


def _camera_level(threshold_nm: float) -> int:
    """An illustrative camera level: 16 for a 50 nm EV threshold down to 8 for 80 nm."""
    return round(16 - (threshold_nm - 50.0) / 30.0 * 8)


def nanosight_text(m: NTAMeasurement, experiment: str) -> str:
    """The measurement as a NanoSight NTA 3.4 ExperimentSummary.csv (CRLF line ends)."""
    n = len(m.videos)
    names = [f"{experiment}_{k:02d}" for k in range(n)]
    pad = "," * 2

    def row(key: str, values, average: str = "", error: str = "") -> str:
        return ",".join([key, *map(str, values)]) + ("," + average + "," + error
                                                     if average or error else "") + ","

    stats = [_instrument_statistics(v) for v in m.videos]
    concentrations = np.array([v.concentration_per_ml for v in m.videos])
    per_frame = np.array([v.particles_per_frame for v in m.videos])
    tracks = [v.sizes_nm.size for v in m.videos]

    def mean_se(values) -> tuple[float, float]:
        values = np.asarray(values, dtype=float)
        se = values.std(ddof=1) / np.sqrt(values.size) if values.size > 1 else 0.0
        return float(values.mean()), float(se)

    warnings_per_frame = ["Low" if v < 10 else "High" if v > 200 else "OK" for v in per_frame]
    dilution = f"{m.dilution:.2e}" if m.dilution_recorded else "Not recorded"
    level = _camera_level(m.threshold_diameter_nm)
    lines = [
        "NTA Experiment Summary File,", "Created with NTA 3.4 Build 3.4.003,", ",",
        "[Experiment Details],,", "Software Version,NTA 3.4 Build 3.4.003,",
        f"Experiment Name,{experiment}.nano,", "Operator Name,,",
        "Time Captured,10:15:00  05/03/2018,", f"Sample Description,{m.sample_name},",
        "Pre-treatment,,", "Diluent,PBS,", "Remarks,,", ",,", ",,,,,",
        row("Filename:", names), row("Processed", ["Yes"] * n), "",
        "[Conditions]" + pad, row("Temperature/C", [f"{m.temperature_c:.3f}"] * n),
        row("Viscosity/cP", ["0.890000"] * n), row("Camera Type", ["sCMOS"] * n),
        row("Laser Type", ["Blue488"] * n), row("Camera Level", [level] * n),
        row("Shutter/ms", ["15.000000"] * n),
        row("Frame rate/fps", ["24.982500"] * n), ",,",
        "[Settings]" + pad, row("Detection Threshold", [5] * n),
        row("Max Jump Mode", ["Auto"] * n), row("Min Track Length", ["Auto"] * n),
        row("First frame", [0] * n), row("Total frames analysed", [m.frames] * n), ",,",
        "[Exclusion Regions]", "No Exclusion Regions Used,,", "",
        "[Results]" + "," * n + ",Average,Standard Error,",
        row("Dilution factor (concentrations adjusted for this factor)", [dilution] * n) + ",",
        row("Concentration (Particles / ml)", [f"{c:.2e}" for c in concentrations],
            *[f"{v:.2e}" for v in mean_se(concentrations)]),
        row("Particles per frame", [f"{v:.1f}" for v in per_frame],
            *[f"{v:.1f}" for v in mean_se(per_frame)]),
        row("Completed tracks", [round(t * 2.4) for t in tracks]) + ",", ",,",
        "[Concentration Warnings]", row("Validity of concentration measurement", ["OK"] * n),
        row("Completed Tracks", ["OK" if t >= 200 else "Low" for t in tracks]),
        row("Particles per frame", warnings_per_frame), "",
        "[Information]", row("Errors (1)", [""] * n), "",
        "[Data Included],", "Size distribution - Number weighting - With Percentiles,", ",",
        "[Size Data],,", "Analysis Method,FTLA,", "Weighting,Number,",
        row("Filename", names, "Average", "Standard Error"),
    ]
    for key in ("Mean", "Mode", "SD", "D10", "D50", "D90"):
        values = [s[key] for s in stats]
        lines.append(row(key, [f"{v:.1f}" for v in values],
                         *[f"{v:.1f}" for v in mean_se(values)]))
    lines.append(row("Valid Tracks", [f"{t:.1f}" for t in tracks]) + ",")
    lines.append("Graph Data,")
    lines.append(row("Bin centre (nm)", ["Concentration (particles / ml)"] * n,
                     "Concentration average", "Standard Error"))
    distributions = np.array([_video_distribution(v, NANOSIGHT_BINS_NM) for v in m.videos])
    average = distributions.mean(axis=0)
    error = (distributions.std(axis=0, ddof=1) / np.sqrt(n) if n > 1
             else np.zeros_like(average))
    centres = NANOSIGHT_BINS_NM[:-1] + 0.5
    for i, centre in enumerate(centres):
        cells = [f"{v:.0f}" for v in distributions[:, i]]
        lines.append(f"{centre:g}," + ",".join(cells) + f",{average[i]:.0f},{error[i]:.0f},")
    lines.append("")
    lines.append(row("Percentile", ["Size (nm)"] * n))
    percentiles = [np.percentile(v.sizes_nm, np.arange(101)) if v.sizes_nm.size
                   else np.zeros(101) for v in m.videos]
    for q in range(101):
        lines.append(row(str(q), [f"{p[q]:.1f}" for p in percentiles]))
    return "\r\n".join(lines) + "\r\n"


# --------------------------------------------------------------------------- ZetaView


def _e(value: float) -> str:
    """ZetaView's number format: 1.234E+2."""
    mantissa, exponent = f"{value:.3E}".split("E")
    return f"{mantissa}E{int(exponent):+d}"


def _zetaview_medians(sizes_nm: NDArray) -> list[str]:
    """The instrument's own medians of the traced particles, in the header lines and order
    of a ZetaView 8.05 export (docs/nta.md cites the public code that reads them): by
    number, by concentration (the same: each track adds one particle's concentration) and
    by volume (each track weighted by d³; the sizes are sorted, as :func:`measure` keeps
    them)."""
    if not sizes_nm.size:
        return []
    by_number = float(np.percentile(sizes_nm, 50))
    volume = np.cumsum(sizes_nm**3)
    by_volume = float(sizes_nm[np.searchsorted(volume, volume[-1] / 2)])
    return [f"Median Number (D50):\t{by_number:.6f}",
            f"Median Concentration (D50):\t{by_number:.6f}",
            f"Median Volume (D50):\t{by_volume:.6f}"]


def zetaview_text(m: NTAMeasurement, experiment: str) -> str:
    """The measurement as a ZetaView 8.05 ``.txt`` export (Latin-1, CRLF); its
    concentrations are of the measured suspension, with the dilution on its own line."""
    video = m.videos[0]
    counts, _ = np.histogram(video.sizes_nm, ZETAVIEW_BINS_NM)
    measured = video.concentration_per_ml / m.dilution  # per cm³ = per mL
    per_bin = counts * measured / max(video.sizes_nm.size, 1)
    sensitivity = round(85 - (m.threshold_diameter_nm - 50.0) / 30.0 * 20)
    centres = (ZETAVIEW_BINS_NM[1:] + ZETAVIEW_BINS_NM[:-1]) / 2
    lines = [
        f"Original File:\tC:\\ZetaView\\Data\\{experiment}.avi\tSection:\t1",
        "Operator:\tlab", f"Experiment:\t{experiment}", "ZetaView S/N:\t20-501",
        "Software:\tZetaView (version 8.05.12 SP1)\tAnalyze:\t8.05.12 SP1",
        "SOP:\tEV_488", f"Sample:\t{m.sample_name}", "Electrolyte:\tPBS",
        f"Temperature:\t{m.temperature_c:.2f} sensed", "Viscosity:\t0.89",
        "Particle Drift Check Result:\tGood", "Cell Check Result:\tVery Good",
        "Type of Measurement:\tConcentration", "Positions:\t11",
        f"Number of Traces:\t{video.sizes_nm.size}",
        f"Average Number of Particles:\t{video.particles_per_frame:.2f}",
        f"Dilution::\t{m.dilution:.2f}", "Laser Wavelength nm:\t488.00",
        *_zetaview_medians(video.sizes_nm),
        "Minimum Brightness:\t30", "Minimum Tracelength:\t15",
        "Camera:\tFpSec 30 #Cycles 2\tFRate 30.00", f"Sensitivity:\t{sensitivity:.1f}",
        "Shutter:\t100", "", "Size Distribution",
        "Size / nm\tNumber\tConcentration / cm-3\tVolume / nm^3\tArea / nm^2",
    ]
    for d, n, c in zip(centres, counts, per_bin, strict=True):
        lines.append("\t".join(_e(v) for v in (d, n, c, np.pi / 6 * d**3 * n,
                                                np.pi * d**2 * n)))
    lines.append("\t".join(["-1.000E+0"] * 5))
    return "\r\n".join(lines) + "\r\n"


def write_export(path: Path, m: NTAMeasurement, experiment: str) -> None:
    """The measurement in its instrument's layout: NanoSight ASCII, ZetaView Latin-1."""
    if m.instrument == "nanosight":
        path.write_bytes(nanosight_text(m, experiment).encode("ascii"))
    else:
        path.write_bytes(zetaview_text(m, experiment).encode("latin-1"))


def write_nta_exports(out_dir: Path, comp: Composition, threshold_nm: NDArray, bias: NDArray,
                      share: float, rng: np.random.Generator) -> list[str]:
    """NTA exports of a ``share`` of the preparations under ``out_dir``/nta; returns each
    prep's ``nta_file`` ("" without one). Batches are labs: each has one instrument."""
    from exoqc.dataset import NTA_DIR

    n_batches = len(comp.batches)
    zetaview = rng.random(n_batches) < ZETAVIEW_SHARE
    temperature = rng.uniform(21.0, 25.0, n_batches)
    chosen = rng.random(len(comp.preps)) < share
    batch_index = comp.preps["batch_index"].to_numpy()
    seen = seen_number_per_ml(comp, threshold_nm, bias)
    files = []
    (out_dir / NTA_DIR).mkdir(exist_ok=True)
    for i, prep_id in enumerate(comp.preps["prep_id"]):
        b = batch_index[i]
        m = measure(prep_id, seen[i], instrument="zetaview" if zetaview[b] else "nanosight",
                    threshold_nm=float(threshold_nm[i]), temperature_c=float(temperature[b]),
                    rng=rng) if chosen[i] else None
        if m is None:
            files.append("")
            continue
        name = f"{NTA_DIR}/{prep_id}" + (".txt" if zetaview[b] else "_ExperimentSummary.csv")
        write_export(out_dir / name, m, f"{prep_id}_nta")
        files.append(name)
    return files
