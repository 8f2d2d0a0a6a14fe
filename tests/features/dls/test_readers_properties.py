"""Property tests of the DLS readers on real and simulated exports, mutated.

Whatever happens to an export (cut short, lines lost or repeated, cells replaced by NaN, inf,
huge numbers, text or decimal commas, re-encoded, bytes flipped), exoqc either reads records
that are well formed and can be analysed, or raises :class:`DLSFormatError` naming the file
and the line or record. Changes that keep the content (encoding, BOM, line endings, column
order, decimal commas where the delimiter allows them) give the same records, whose values
are those the export was written from.
"""

from __future__ import annotations

import itertools
import math
import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from dls_forward import (
    ALV_DIR,
    ZETASIZER_SILICA,
    correlogram,
    lognormal_population,
    zetasizer_record,
    zetasizer_wide_text,
)
from hypothesis import assume, event, given
from hypothesis import strategies as st

from exoqc.errors import DLSFormatError
from exoqc.features.dls.analysis import analyze_record
from exoqc.features.dls.readers import (
    G2M1_MAX,
    LAG_TIME_RANGE_S,
    MAX_DLS_FILE_BYTES,
    MAX_DLS_FILE_LINES,
    MAX_POINTS,
    DLSRecord,
    read_dls_file,
)
from exoqc.features.dls.table import record_features
from tests.properties import property_settings

# --------------------------------------------------------------------------- the exports

ALV_RUN = ALV_DIR / "MW002-03_0000_0001.ASC"
# The simulator's correlograms (dls_forward), written as the instruments write them.
WIDE_SOURCE = [
    correlogram([(90.0, 0.0, 1.0)], seed=1),
    correlogram([(60.0, 0.25, 0.7), (400.0, 0.1, 0.3)], seed=2),
]
WIDE_RECORDS = [zetasizer_record(f"EV-{i}", 11 + i, tau, g, **{"Temperature (°C)": 24.0 + i})
                for i, (tau, g) in enumerate(WIDE_SOURCE)]
WIDE_TEXT = zetasizer_wide_text(WIDE_RECORDS)
SUMMARY_TEXT = ("Record\tType\tSample Name\tMeasurement Date and Time\tT (°C)\tZ-Ave (d.nm)"
                "\tPdI\tIntercept\r\n"
                "11\tSize\tEV-0\tMonday\t24.0\t96.10\t0.052\t0.91\r\n"
                "12\tSize\tEV-1\tMonday\t25.0\t101.20\t0.048\t0.92\r\n")
CSV_TAU_S, CSV_G2M1 = correlogram([(120.0, 0.15, 1.0)], seed=3)
CSV_CORRELOGRAM = "\n".join(
    ["# sample_name: EV batch 12", "# temperature_c: 20.0", "# viscosity_cp: 1.002",
     "tau_us,g2m1"]
    + [f"{t * 1e6:.6g},{g:.6f}" for t, g in zip(CSV_TAU_S, CSV_G2M1, strict=True)]) + "\n"
DIST_NM, DIST_WEIGHTS = lognormal_population(110.0, 0.3, points=40)
DIST_PERCENT = 100 * DIST_WEIGHTS / DIST_WEIGHTS.sum()
CSV_DISTRIBUTION = "size_nm,intensity\n" + "".join(
    f"{d:.6g},{w:.6g}\n" for d, w in zip(DIST_NM, DIST_PERCENT, strict=True))

EXPORTS: dict[str, str] = {
    "zetasizer wide": WIDE_TEXT,
    "zetasizer summary + wide": SUMMARY_TEXT + "\r\n" + WIDE_TEXT,
    "zetasizer summary": SUMMARY_TEXT,
    "zetasizer silica (real)": ZETASIZER_SILICA.read_bytes().decode("latin-1"),
    "alv (real)": ALV_RUN.read_bytes().decode("latin-1"),
    "csv correlogram": CSV_CORRELOGRAM,
    "csv distribution": CSV_DISTRIBUTION,
}

# Plausible measurement conditions (the reader's contract; a value outside is refused).
CONDITIONS = {"temperature_k": (250.0, 400.0), "viscosity_pa_s": (1e-5, 10.0),
              "medium_refractive_index": (1.0, 2.0), "wavelength_nm": (200.0, 2000.0),
              "angle_deg": (0.0, 180.0)}

# --------------------------------------------------------------------------- mutations

NUMBER = re.compile(r"(?<![\w.])[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w.])")
BAD_CELLS = ["", " ", "nan", "NaN", "inf", "-inf", "1e308", "-1e308", "1e999", "0", "-0",
             "1e-320", "abc", "0,5", "1.2.3", '""', "ND", "1e308\t1e308"]
JUNK_LINES = ["", "   ", "\t\t\t", "#", "# temperature_c: 1e999", "# angle_deg: nan", "a,b,c",
              '"Correlation"', "Sample Name\tType", "Angle(99999999) [°] : 90", "nan", ";;;",
              "1e308,1e308", "\x00\x00", "size_nm,number", "tau_us,g2m1"]

mutations = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("drop line"), st.integers(0, 10_000)),
    st.tuples(st.just("repeat line"), st.integers(0, 10_000)),
    st.tuples(st.just("swap lines"), st.integers(0, 10_000), st.integers(0, 10_000)),
    st.tuples(st.just("insert line"), st.integers(0, 10_000), st.sampled_from(JUNK_LINES)),
    st.tuples(st.just("replace numbers"), st.lists(st.integers(0, 100_000), min_size=1,
                                                   max_size=5), st.sampled_from(BAD_CELLS)),
    st.tuples(st.just("insert delimiter"), st.floats(0, 1), st.sampled_from([",", ";", "\t"])),
    st.tuples(st.just("delete span"), st.floats(0, 1), st.integers(1, 40)),
)


def mutate(text: str, mutation: tuple) -> str:
    kind, *args = mutation
    lines = text.split("\n")
    if kind == "truncate":
        return text[: int(args[0] * len(text))]
    if kind == "drop line":
        del lines[args[0] % len(lines)]
    elif kind == "repeat line":
        i = args[0] % len(lines)
        lines.insert(i, lines[i])
    elif kind == "swap lines":
        i, j = args[0] % len(lines), args[1] % len(lines)
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "insert line":
        lines.insert(args[0] % (len(lines) + 1), args[1])
    elif kind == "replace numbers":
        found = list(NUMBER.finditer(text))
        if not found:
            return text
        chosen = sorted({found[k % len(found)].span() for k in args[0]}, reverse=True)
        for start, stop in chosen:
            text = text[:start] + args[1] + text[stop:]
        return text
    elif kind == "insert delimiter":
        at = int(args[0] * len(text))
        return text[:at] + args[1] + text[at:]
    elif kind == "delete span":
        at = int(args[0] * len(text))
        return text[:at] + text[at + args[1]:]
    return "\n".join(lines)


ENCODINGS = ["latin-1", "cp1252", "utf-8", "utf-8-sig", "utf-16"]


def write(path: Path, text: str, encoding: str) -> Path:
    path.write_bytes(text.encode(encoding, errors="replace"))
    return path


# --------------------------------------------------------------------------- the contract


def check_refusal(error: DLSFormatError, path: Path) -> None:
    """A refusal names the file and where in it: the line or record, unless it is about
    the file as a whole (too large, not text)."""
    assert error.file == str(path)
    assert str(error).startswith(str(path)) and error.detail.strip()
    whole_file = any(word in error.detail for word in ("MiB", "binary content", "UTF-16"))
    assert whole_file or error.line is not None or error.record is not None, str(error)


def check_well_formed(record: DLSRecord, path: Path, position: int) -> None:
    assert record.file == str(path) and record.record == position
    for name, (low, high) in CONDITIONS.items():
        assert low < getattr(record, name) < high, name
    if record.has_correlogram:
        tau, g2m1 = record.tau_s, record.g2m1
        assert tau.shape == g2m1.shape and 8 <= tau.size <= MAX_POINTS
        assert (LAG_TIME_RANGE_S[0] <= tau).all() and (tau <= LAG_TIME_RANGE_S[1]).all()
        assert (np.diff(tau) > 0).all()
        assert np.isfinite(g2m1).all() and (g2m1 >= -1).all() and (g2m1 <= G2M1_MAX).all()
    elif record.has_distribution:
        diameter, weights = record.diameter_nm, record.weights
        assert diameter.shape == weights.shape and 2 <= diameter.size <= MAX_POINTS
        assert np.isfinite(diameter).all() and (np.diff(diameter) > 0).all()
        assert (diameter > 0).all() and (weights >= 0).all()
        assert 0 < weights.sum() < math.inf
    else:
        assert record.reported_z_average_nm is not None
    for value in (record.count_rate_kcps, record.duration_s, record.reported_z_average_nm,
                  record.reported_pdi, record.reported_intercept):
        assert value is None or math.isfinite(value)


def read_and_analyse(path: Path) -> list[DLSRecord] | None:
    """The records of ``path`` (None when refused), each checked and analysed.

    Anything but a :class:`DLSFormatError` propagates and fails the test.
    """
    try:
        records = read_dls_file(path)
    except DLSFormatError as error:
        check_refusal(error, path)
        return None
    assert records
    for position, record in enumerate(records, start=1):
        check_well_formed(record, path, position)
        try:
            result = analyze_record(record)
        except DLSFormatError as error:
            check_refusal(error, path)
            assert error.record == record.record
            continue
        # Features go to XGBoost: NaN means "not measured"; an infinity would be a wrong number.
        features = record_features(result)
        assert not any(math.isinf(v) for v in features.values()), features
    return records


def same_records(read: list[DLSRecord], expected: list[DLSRecord]) -> None:
    assert len(read) == len(expected)
    for a, b in zip(read, expected, strict=True):
        for name in ("record", "sample_name", "temperature_k", "viscosity_pa_s",
                     "medium_refractive_index", "wavelength_nm", "angle_deg",
                     "count_rate_kcps", "duration_s", "weighting", "reported_z_average_nm",
                     "reported_pdi", "reported_intercept", "defaults_used"):
            assert getattr(a, name) == getattr(b, name), name
        for name in ("tau_s", "g2m1", "diameter_nm", "weights"):
            x, y = getattr(a, name), getattr(b, name)
            assert (x is None) == (y is None), name
            if x is not None:
                np.testing.assert_array_equal(x, y, err_msg=name)


# --------------------------------------------------------------------------- properties


@property_settings(120)
@given(name=st.sampled_from(sorted(EXPORTS)),
       changes=st.lists(mutations, min_size=1, max_size=3),
       encoding=st.sampled_from(ENCODINGS),
       flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=2))
def test_a_mutated_export_is_read_or_refused_naming_file_and_place(
    tmp_path, name, changes, encoding, flips
):
    text = EXPORTS[name]
    for change in changes:
        text = mutate(text, change)
    raw = bytearray(text.encode(encoding, errors="replace"))
    for at, byte in flips:
        if raw:
            raw[min(int(at * len(raw)), len(raw) - 1)] = byte
    path = tmp_path / "export.txt"
    path.write_bytes(bytes(raw))
    records = read_and_analyse(path)
    event("read" if records else "refused")


def expected_records(name: str, tmp_path: Path, file_name: str = "export.txt") -> list[DLSRecord]:
    """The records of the unmutated export, written under the same file name (a CSV's
    sample name defaults to the file's stem)."""
    folder = tmp_path / "unmutated"
    folder.mkdir(exist_ok=True)
    records = read_and_analyse(write(folder / file_name, EXPORTS[name], "latin-1"))
    assert records is not None, f"the unmutated {name} export must be readable"
    return records


@property_settings(30)
@given(name=st.sampled_from(sorted(EXPORTS)), encoding=st.sampled_from(ENCODINGS),
       crlf=st.booleans(), trailing_blank_lines=st.integers(0, 3))
def test_encoding_bom_and_line_endings_do_not_change_the_records(
    tmp_path, name, encoding, crlf, trailing_blank_lines
):
    text = EXPORTS[name].replace("\r\n", "\n")
    text = text.replace("\n", "\r\n") if crlf else text
    text += ("\r\n" if crlf else "\n") * trailing_blank_lines
    read = read_dls_file(write(tmp_path / "export.txt", text, encoding))
    same_records(read, expected_records(name, tmp_path))


def test_the_simulated_exports_read_as_the_values_they_were_written_from(tmp_path):
    """The oracle of the metamorphic tests: the writers' arrays, not the reader."""
    wide = expected_records("zetasizer summary + wide", tmp_path)
    for record, (tau_s, g2m1) in zip(wide, WIDE_SOURCE, strict=True):
        np.testing.assert_allclose(record.tau_s, tau_s, rtol=1e-5)  # written with %.6g
        np.testing.assert_allclose(record.g2m1, g2m1, atol=5e-7)  # written with %.6f
    assert [r.reported_z_average_nm for r in wide] == [96.10, 101.20]
    csv = expected_records("csv correlogram", tmp_path)[0]
    np.testing.assert_allclose(csv.tau_s, CSV_TAU_S, rtol=1e-5)
    np.testing.assert_allclose(csv.g2m1, CSV_G2M1, atol=5e-7)
    assert csv.temperature_k == pytest.approx(293.15)
    dist = expected_records("csv distribution", tmp_path)[0]
    np.testing.assert_allclose(dist.diameter_nm, DIST_NM, rtol=1e-5)
    np.testing.assert_allclose(dist.weights, DIST_PERCENT, rtol=1e-5)


def _columns(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.replace("\r\n", "\n").strip("\n").split("\n")]


@property_settings(25)
@given(data=st.data())
def test_zetasizer_columns_in_any_order_give_the_same_records(tmp_path, data):
    rows = _columns(WIDE_TEXT)
    order = data.draw(st.permutations(range(len(rows[0]))))
    shuffled = "\r\n".join("\t".join(row[i] for i in order) for row in rows) + "\r\n"
    read = read_dls_file(write(tmp_path / "export.txt", shuffled, "latin-1"))
    same_records(read, expected_records("zetasizer wide", tmp_path))


@property_settings(25)
@given(share=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
def test_decimal_commas_in_tab_and_semicolon_files_give_the_same_values(tmp_path, share, seed):
    """European-locale exports: "0,5" in a tab-delimited Zetasizer file or a
    semicolon-delimited CSV is 0.5; any share of the cells may be written so."""
    rng = np.random.default_rng(seed)

    def commas(text: str) -> str:
        return NUMBER.sub(lambda m: m.group().replace(".", ",") if rng.random() < share
                          else m.group(), text)

    wide = read_dls_file(write(tmp_path / "export.txt", commas(WIDE_TEXT), "latin-1"))
    same_records(wide, expected_records("zetasizer wide", tmp_path))
    semicolons = CSV_DISTRIBUTION.replace(",", ";")
    dist = read_dls_file(write(tmp_path / "export.txt", commas(semicolons), "utf-8"))
    same_records(dist, expected_records("csv distribution", tmp_path))


cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(-2, 20).map(lambda v: f"{v:.6g}"),
    st.sampled_from(BAD_CELLS),
)


@property_settings(80)
@given(tau_us=st.lists(cells, max_size=24), g2m1=st.lists(cells, max_size=24))
def test_a_generic_correlogram_is_accepted_exactly_when_it_meets_the_contract(
    tmp_path, tau_us, g2m1
):
    """Accepted iff ≥ 8 rows of numbers, lag times within LAG_TIME_RANGE_S and increasing,
    g2 − 1 within [−1, G2M1_MAX]; then the values are those written."""
    n = min(len(tau_us), len(g2m1))
    tau_us, g2m1 = tau_us[:n], g2m1[:n]
    text = "tau_us,g2m1\n" + "".join(f"{t},{g}\n" for t, g in zip(tau_us, g2m1, strict=True))
    path = write(tmp_path / "correlogram.csv", text, "utf-8")

    def number(cell: str) -> float | None:
        try:
            return float(cell)
        except ValueError:
            return None

    low, high = LAG_TIME_RANGE_S
    tau = [number(c) for c in tau_us]
    g = [number(c) for c in g2m1]
    acceptable = (
        n >= 8
        and all(v is not None and low <= v * 1e-6 <= high for v in tau)
        and all(b > a for a, b in itertools.pairwise(tau))
        and all(v is not None and math.isfinite(v) and -1 <= v <= G2M1_MAX for v in g)
    )
    records = read_and_analyse(path)
    assert (records is not None) == acceptable
    if records is not None:
        np.testing.assert_array_equal(records[0].tau_s, np.array(tau) * 1e-6)
        np.testing.assert_array_equal(records[0].g2m1, np.array(g))


finite = st.floats(allow_nan=False, allow_infinity=False)
g2m1_values = st.one_of(st.floats(-1, G2M1_MAX), st.sampled_from([-1.0, 0.0, 1e-300, G2M1_MAX]))


@st.composite
def accepted_correlograms(draw) -> tuple[np.ndarray, np.ndarray]:
    """Lag times (s) and g2 − 1 that the readers accept: anything from a clean decay to
    noise, steps and constants, over any lag range the readers accept."""
    n = draw(st.integers(8, 300))
    low, high = np.log10(LAG_TIME_RANGE_S)
    first = draw(st.floats(low, high - 0.01))
    last = draw(st.floats(first + 0.01, high))
    steps = np.cumsum(draw(st.lists(st.floats(1e-3, 1.0), min_size=n - 1, max_size=n - 1)))
    tau_s = 10 ** (first + (last - first) * np.concatenate([[0.0], steps / steps[-1]]))
    tau_s = np.clip(tau_s, *LAG_TIME_RANGE_S)
    assume(bool((np.diff(tau_s) > 0).all()))
    shape = draw(st.sampled_from(["decay", "two decays", "noise", "constant", "step"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if shape == "decay":
        rate = draw(st.floats(1e-3, 1e12))
        g2m1 = draw(st.floats(0, 1)) * np.exp(-2 * rate * tau_s)
        g2m1 = g2m1 + rng.normal(0, draw(st.floats(0, 0.1)), n)
    elif shape == "two decays":
        fast, slow = draw(st.floats(1e2, 1e9)), draw(st.floats(1e-2, 1e5))
        g2m1 = 0.5 * (np.exp(-fast * tau_s) + np.exp(-slow * tau_s)) ** 2
    elif shape == "noise":
        g2m1 = rng.uniform(-1, G2M1_MAX, n)
    elif shape == "constant":
        g2m1 = np.full(n, draw(g2m1_values))
    else:
        g2m1 = np.where(np.arange(n) < draw(st.integers(0, n)), draw(g2m1_values),
                        draw(g2m1_values))
    return tau_s, np.clip(g2m1, -1, G2M1_MAX)


@property_settings(60)
@given(correlogram=accepted_correlograms())
def test_any_correlogram_the_reader_accepts_can_be_analysed(tmp_path, correlogram):
    tau_s, g2m1 = correlogram
    text = "tau_s,g2m1\n" + "".join(f"{float(t)!r},{float(g)!r}\n"
                                   for t, g in zip(tau_s, g2m1, strict=True))
    records = read_and_analyse(write(tmp_path / "correlogram.csv", text, "utf-8"))
    assert records is not None
    np.testing.assert_array_equal(records[0].tau_s, tau_s)


@property_settings(60)
@given(diameter_nm=st.lists(st.floats(1e-3, 1e9), min_size=2, max_size=200, unique=True),
       weights=st.lists(st.one_of(st.floats(0, 1e300), st.just(0.0)), min_size=200,
                        max_size=200),
       weighting=st.sampled_from(["intensity", "volume", "number"]))
def test_any_size_distribution_the_reader_accepts_is_analysed_or_refused(
    tmp_path, diameter_nm, weights, weighting
):
    diameter_nm = sorted(diameter_nm)
    weights = weights[: len(diameter_nm)]
    text = f"size_nm,{weighting}\n" + "".join(
        f"{d!r},{w!r}\n" for d, w in zip(diameter_nm, weights, strict=True))
    records = read_and_analyse(write(tmp_path / "distribution.csv", text, "utf-8"))
    sums_to_a_finite_positive_number = 0 < math.fsum(weights) < np.finfo(float).max
    assert (records is not None) == sums_to_a_finite_positive_number


# --------------------------------------------------------------------------- bounded sizes


def test_a_file_over_the_size_limit_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "huge.txt"
    with open(path, "wb") as handle:
        handle.truncate(MAX_DLS_FILE_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(DLSFormatError, match="MiB") as refused:
        read_dls_file(path)
    check_refusal(refused.value, path)


@pytest.mark.parametrize("layout", ["junk", "csv row", "zetasizer row", "alv row"])
def test_a_10_mb_line_is_refused_with_its_line_and_a_short_message(tmp_path, layout):
    long = "x" * 10_000_000
    first_g2m1 = f"{WIDE_SOURCE[0][1][0]:.6f}"
    text = {
        "junk": long + "\n",
        "csv row": CSV_CORRELOGRAM.replace("\ntau_us,g2m1\n", f"\ntau_us,g2m1\n0.1,{long}\n"),
        "zetasizer row": WIDE_TEXT.replace(f"\t{first_g2m1}\t", f"\t{long}\t", 1),
        "alv row": EXPORTS["alv (real)"].replace('"Correlation"\r\n',
                                                 f'"Correlation"\r\n0.1 {long}\r\n', 1),
    }[layout]
    path = write(tmp_path / "long.txt", text, "latin-1")
    with pytest.raises(DLSFormatError) as refused:
        read_dls_file(path)
    check_refusal(refused.value, path)
    assert refused.value.line is not None
    assert len(refused.value.detail) < 500


@pytest.mark.parametrize("layout", ["csv", "alv", "zetasizer"])
def test_too_many_points_or_lines_are_refused_in_bounded_memory(tmp_path, layout):
    """Millions of lag times (a file near the size limit) cost a bounded amount of memory:
    the line count is checked before the text is split, the points while rows are read."""
    lags = {"csv": 1_000_000, "alv": 1_000_000, "zetasizer": MAX_POINTS + 1}[layout]
    if layout == "csv":
        text = "tau_us,g2m1\n" + "".join(f"{i},0.5\n" for i in range(1, MAX_POINTS + 2))
        text += "9e9,0.5\n" * (lags - MAX_POINTS)
    elif layout == "alv":
        text = ('ALV-5000/E-WIN Data\nAngle [°] : 90\n"Correlation"\n'
                + "".join(f"{i}e-4 0.5\n" for i in range(1, lags // 1000)))
        text += "9 0.5\n" * lags
    else:
        header = "\t".join(["Sample Name", *(f"Correlation Data[{i}]" for i in
                                             range(1, lags + 1))])
        text = header + "\r\nS" + "\t0.5" * lags + "\r\n"
    path = write(tmp_path / "many.txt", text, "latin-1")
    size_mib = path.stat().st_size / 1024**2
    del text
    tracemalloc.start()
    try:
        with pytest.raises(DLSFormatError, match=f"{MAX_DLS_FILE_LINES}|{MAX_POINTS}") as refused:
            read_dls_file(path)
        peak_mib = tracemalloc.get_traced_memory()[1] / 1024**2
    finally:
        tracemalloc.stop()
    check_refusal(refused.value, path)
    # The text itself (bytes, then str) is the only large thing held, not a list of cells
    # per line (~20× the file).
    assert peak_mib < 3 * size_mib + 8
