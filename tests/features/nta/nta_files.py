"""NTA exports written inside the tests: the real NanoSight files and a synthetic ZetaView
export made from its documented layout.

The ZetaView text is synthetic (no ZetaView export with a licence that allows copying was
found). It follows the layout of ZetaView 8.05 ``.txt`` exports as public analysis code
reads them (heikeboehm/NTA-Analysis, nta_analyzer_cells_01_05.py: ``Key: value`` header
lines such as ``Sample:``, ``Temperature: 23.91 sensed``, ``Dilution::``, ``Number of
Traces:``, ``Average Number of Particles:``, ``Sensitivity:``, ``Shutter:``; a ``Size
Distribution`` line, the tab-delimited table ``Size / nm  Number  Concentration / cm-3
Volume / nm^3  Area / nm^2`` in ``1.234E+2`` notation, a ``-1.000E+0`` row closing it, then
the logarithmic table), written Latin-1 with CRLF line ends as the instrument's Windows
software writes them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

NTA_DATA = Path(__file__).parents[2] / "data" / "nta"
BEADS = NTA_DATA / "beads.csv"
BEADS2 = NTA_DATA / "beads2.csv"

ZETAVIEW_DILUTION = 1000.0
ZETAVIEW_CM3_PER_TRACE = 6.0e4
"""Concentration (per cm³ of the measured suspension) that one traced particle stands
for in the synthetic export: the ratio of its Concentration and Number columns."""


def zetaview_tracks(median_nm: float = 110.0, sigma_ln: float = 0.35, traces: int = 1850,
                    seed: int = 7) -> np.ndarray:
    """The sizes of the traced particles of a log-normal sample (nm)."""
    return np.random.default_rng(seed).lognormal(np.log(median_nm), sigma_ln, traces)


def zetaview_counts(median_nm: float = 110.0, sigma_ln: float = 0.35, traces: int = 1850,
                    seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Bin centres (5 nm classes) and traced particles per bin of a log-normal sample."""
    sizes = zetaview_tracks(median_nm, sigma_ln, traces, seed)
    edges = np.arange(5.0, 1005.0, 5.0)
    counts, _ = np.histogram(sizes, edges)
    return (edges[:-1] + edges[1:]) / 2, counts.astype(float)


def zetaview_text(centres_nm: np.ndarray, counts: np.ndarray, *,
                  dilution: float | None = ZETAVIEW_DILUTION, sample: str = "EV prep 11",
                  particles_per_frame: float = 121.4, drift_result: str = "Good",
                  median_number_nm: float | None = None) -> str:
    """A ZetaView ``.txt`` export of one measurement (see the module docstring), with the
    instrument's ``Median Number (D50):`` line when ``median_number_nm`` is given."""
    concentration = counts * ZETAVIEW_CM3_PER_TRACE
    head = [
        "Original File:\tC:\\ZetaView\\Data\\EV_prep_11_20240305_0001.avi\tSection:\t1",
        "Operator:\tlab", "Experiment:\tEV_prep_11_20240305", "ZetaView S/N:\t21-123",
        "Cell S/N:\t318", "Software:\tZetaView (version 8.05.16 SP3)\tAnalyze:\t8.05.16 SP3",
        "SOP:\tEV_488", f"Sample:\t{sample}", "Electrolyte:\tPBS", "pH:\t7.0 entered",
        "Conductivity:\t15230.00 sensed", "TempControl:\tOff", "SetTemperature:\t25.00 °C",
        "Temperature:\t23.91 sensed", "Viscosity:\t0.92", "Date:\t2024-03-05",
        "Time:\t11:22:33", "General Remarks:\t", "Remarks:\t", "Sample Info 1:\t",
        "Particle Drift Checked:\t2024-03-05 11:20:10",
        f"Particle Drift Check Result:\t{drift_result}", "Cell Checked:\t2024-03-05",
        "Cell Check Result:\tVery Good", "Type of Measurement:\tConcentration",
        "Positions:\t11", "Microscope Position:\thigh",
        f"Number of Traces:\t{int(counts.sum())}",
        f"Average Number of Particles:\t{particles_per_frame:.2f}",
    ]
    if dilution is not None:
        head.append(f"Dilution::\t{dilution:.2f}")
    head.append("Laser Wavelength nm:\t488.00")
    if median_number_nm is not None:
        head.append(f"Median Number (D50):\t{median_number_nm:.6f}")
    head += [
        "Minimum Brightness:\t30", "Minimum Area:\t10",
        "Maximum Area:\t1000", "Maximum Brightness:\t255", "Tracking Radius2:\t100",
        "Minimum Tracelength:\t15", "Camera:\tFpSec 30 #Cycles 2\tFRate 30.00",
        "Sensitivity:\t80.0", "Shutter:\t100", "Gain:\t28.0", "", "Size Distribution",
        "Size / nm\tNumber\tConcentration / cm-3\tVolume / nm^3\tArea / nm^2",
    ]

    def row(d: float, n: float, c: float) -> str:
        return "\t".join(f"{v:.3E}".replace("E+0", "E+").replace("E-0", "E-")
                         for v in (d, n, c, np.pi / 6 * d**3 * n, np.pi * d**2 * n))

    table = [row(d, n, c) for d, n, c in zip(centres_nm, counts, concentration, strict=True)]
    separator = "\t".join(["-1.000E+0"] * 5)
    log_edges = np.geomspace(5.0, 1000.0, 31)
    log_counts, _ = np.histogram(np.repeat(centres_nm, counts.astype(int)), log_edges)
    log_table = [row(d, n, n * ZETAVIEW_CM3_PER_TRACE)
                 for d, n in zip(np.sqrt(log_edges[1:] * log_edges[:-1]), log_counts,
                                 strict=True)]
    return "\r\n".join([*head, *table, separator, "", "Size Distribution",
                        "Size / nm\tNumber\tConcentration / cm-3\tVolume / nm^3\tArea / nm^2",
                        *log_table, ""])


def write_zetaview(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("latin-1"))
    return path


# NanoSight NTA 3.x per-particle exports of one video. No public real export was found, so
# the files are synthetic; their columns are those public code reads from real exports:
# a NanoSight 3.4 CSV-pack importer (its PARTICLE_COLUMNS and TRACK_COLUMNS) and a
# particle-level NanoSight intensity analysis (its REQUIRED_COLUMNS), both found with the
# project's code search (the index does not name their repositories). ParticleData: one
# row per particle; AllTracks: one row per particle and frame; comma-delimited, the
# inclusion flag written True/False.
PARTICLE_COLUMNS = ("Particle ID", "Size/nm", "Diffusion coefficient/nm^2 s^-1",
                    "Ln(Adjusted intensity)/AU", "Start frame", "Tracklength",
                    "Included in distribution?")
TRACK_COLUMNS = ("Particle ID", "Size/nm", "Diffusion coefficient/nm^2 s^-1", "Frame",
                 "X/pixels", "Y/pixels", "Ln(Adjusted intensity)/AU",
                 "Included in distribution?")
PARTICLE_DATA = NTA_DATA / "EV_prep_3_video1_ParticleData.csv"
ALL_TRACKS = NTA_DATA / "EV_prep_3_video1_AllTracks.csv"
_KT_J = 1.380649e-23 * 298.15
_WATER_CP = 0.89


def nanosight_particles(n: int = 150, n_excluded: int = 12, seed: int = 3) -> dict:
    """Particles of one synthetic video: size (nm), start frame, track length, inclusion
    (the instrument leaves out short tracks), intensity."""
    rng = np.random.default_rng(seed)
    size = np.round(rng.lognormal(np.log(110.0), 0.35, n), 1)
    length = rng.integers(10, 40, n)
    included = np.ones(n, dtype=bool)
    included[rng.choice(n, n_excluded, replace=False)] = False
    length[~included] = rng.integers(2, 6, n_excluded)
    return {"id": np.arange(1, n + 1), "size_nm": size, "start": rng.integers(0, 1400, n),
            "length": length, "included": included,
            "ln_intensity": np.round(rng.normal(7.5, 1.0, n), 3)}


def _diffusion_nm2_s(size_nm: float) -> float:
    """Stokes-Einstein at 25 °C in water, as the instrument converts the two."""
    return _KT_J / (3 * np.pi * _WATER_CP * 1e-3 * size_nm * 1e-9) * 1e18


def particle_data_text(p: dict) -> str:
    rows = [",".join(PARTICLE_COLUMNS)]
    for k in range(p["id"].size):
        rows.append(f"{p['id'][k]},{p['size_nm'][k]:.1f},{_diffusion_nm2_s(p['size_nm'][k]):.1f},"
                    f"{p['ln_intensity'][k]:.3f},{p['start'][k]},{p['length'][k]},"
                    f"{'True' if p['included'][k] else 'False'}")
    return "\r\n".join(rows) + "\r\n"


def all_tracks_text(p: dict, seed: int = 4) -> str:
    rng = np.random.default_rng(seed)
    rows = [",".join(TRACK_COLUMNS)]
    for k in range(p["id"].size):
        xy = rng.uniform(50, 1200, 2) + np.cumsum(rng.normal(0, 1.5, (p["length"][k], 2)),
                                                  axis=0)
        for f in range(p["length"][k]):
            rows.append(f"{p['id'][k]},{p['size_nm'][k]:.1f},"
                        f"{_diffusion_nm2_s(p['size_nm'][k]):.1f},{p['start'][k] + f},"
                        f"{xy[f, 0]:.2f},{xy[f, 1]:.2f},"
                        f"{p['ln_intensity'][k] + rng.normal(0, 0.1):.3f},"
                        f"{'True' if p['included'][k] else 'False'}")
    return "\r\n".join(rows) + "\r\n"
