"""DLS readers: real ALV and Zetasizer files, the simulator's layouts, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from dls_forward import (
    ALV_DIR,
    ZETASIZER_COLUMNS,
    ZETASIZER_SILICA,
    correlogram,
    zetasizer_record,
    zetasizer_wide_text,
)

from exoqc.config import DLS_DEFAULTS
from exoqc.errors import DLSFormatError
from exoqc.features.dls.readers import detect_format, read_dls_file

ALV_RUN = ALV_DIR / "MW002-03_0000_0001.ASC"


def test_alv_file_gives_one_record_per_angle_with_its_own_conditions():
    records = read_dls_file(ALV_RUN)
    assert [r.angle_deg for r in records] == [26, 42, 58, 74, 90, 106, 122, 138]
    first = records[0]
    assert first.record == 1 and first.instrument == "alv"
    assert first.sample_name == "7 2021 MW002-03"
    # Header: Temperature [K] 292.93412, Viscosity [cp] 1.00706, n 1.332, 632.8 nm.
    assert first.temperature_k == pytest.approx(292.93412)
    assert first.viscosity_pa_s == pytest.approx(1.00706e-3)
    assert first.medium_refractive_index == pytest.approx(1.332)
    assert first.wavelength_nm == pytest.approx(632.8)
    assert first.defaults_used == ()
    assert first.duration_s == pytest.approx(30.0)
    assert [r.count_rate_kcps for r in records[:2]] == pytest.approx([116.02966, 97.24667])
    # Lag times are written in ms: the first lag is 1e-4 ms = 100 ns.
    assert first.tau_s[0] == pytest.approx(1e-7)
    assert first.tau_s.size == 182
    assert first.g2m1[:2] == pytest.approx([0.546689, 0.932660])
    assert records[4].g2m1[1] == pytest.approx(0.999811)


def test_zetasizer_size_distribution_export():
    records = read_dls_file(ZETASIZER_SILICA)
    assert len(records) == 3
    first = records[0]
    assert first.sample_name == "20260916_SiNP_7 1"
    assert not first.has_correlogram and first.weighting == "intensity"
    assert first.diameter_nm.size == 70
    assert first.diameter_nm[:2] == pytest.approx([0.4, 0.4632])
    assert first.viscosity_pa_s == pytest.approx(1.2e-3)  # the file's 1.2000 cP
    assert first.temperature_k == pytest.approx(298.15)
    # A Zetasizer Nano writes no wavelength, detector angle or (here) dispersant index.
    assert first.wavelength_nm == DLS_DEFAULTS.wavelength_nm
    assert first.angle_deg == DLS_DEFAULTS.angle_deg
    assert set(first.defaults_used) == {"medium_refractive_index", "wavelength_nm", "angle_deg"}


def _three_replicates(seed: int = 1):
    out = []
    for i, diameter in enumerate((95.0, 100.0, 105.0)):
        tau, g = correlogram([(diameter, 0.0, 1.0)], seed=seed + i)
        out.append(zetasizer_record("EV-7", 11 + i, tau, g, **{"Temperature (°C)": 24.0 + i}))
    return out


def test_simulator_zetasizer_wide_export(write_file):
    records = _three_replicates()
    path = write_file("ev.txt", zetasizer_wide_text(records))
    assert b"\r\n" in path.read_bytes() and "µ".encode("latin-1") in path.read_bytes()
    read = read_dls_file(path)
    assert [r.record for r in read] == [1, 2, 3]
    assert [r.line for r in read] == [2, 3, 4]
    assert [r.temperature_k for r in read] == pytest.approx([297.15, 298.15, 299.15])
    assert read[0].viscosity_pa_s == pytest.approx(0.8872e-3)
    assert read[0].count_rate_kcps == pytest.approx(25000.0)
    assert read[0].duration_s == pytest.approx(100.0)
    assert read[0].angle_deg == DLS_DEFAULTS.angle_deg
    assert np.allclose(read[1].tau_s, records[1]["tau_s"], rtol=1e-5)
    assert np.allclose(read[1].g2m1, records[1]["g2m1"], atol=1e-6)


def test_zetasizer_columns_in_any_order_and_subset(write_file):
    records = _three_replicates()
    n = len(records[0]["tau_s"])
    data = [f"Correlation Data[{i}]" for i in range(n, 0, -1)]
    delay = [f"Correlation Delay Times[{i}] (µs)" for i in range(1, n + 1)]
    order = [*data, "Sample Name", *delay, "Temperature (°C)"]  # no viscosity, no RI
    read = read_dls_file(write_file("shuffled.txt", zetasizer_wide_text(records, order=order)))
    assert np.allclose(read[0].g2m1, records[0]["g2m1"], atol=1e-6)
    assert read[0].viscosity_pa_s == DLS_DEFAULTS.viscosity_pa_s
    assert "viscosity_pa_s" in read[0].defaults_used
    assert "temperature_k" not in read[0].defaults_used


SUMMARY = ("Record\tType\tSample Name\tMeasurement Date and Time\tT (°C)\tZ-Ave (d.nm)\tPdI"
           "\tIntercept\r\n"
           "11\tSize\tEV-7\tMonday\t24.0\t96.10\t0.052\t0.91\r\n"
           "12\tSize\tEV-7\tMonday\t25.0\t101.20\t0.048\t0.92\r\n"
           "13\tSize\tEV-7\tMonday\t26.0\t104.70\t0.061\t0.90\r\n")


def test_zetasizer_summary_table_alone(write_file):
    read = read_dls_file(write_file("summary.txt", SUMMARY))
    assert [r.reported_z_average_nm for r in read] == pytest.approx([96.1, 101.2, 104.7])
    assert [r.reported_pdi for r in read] == pytest.approx([0.052, 0.048, 0.061])
    assert read[0].reported_intercept == pytest.approx(0.91)
    assert not read[0].has_correlogram and not read[0].has_distribution


def test_zetasizer_summary_then_wide_table_pairs_records_by_number(write_file):
    records = _three_replicates()
    records.reverse()  # the wide table in another order: pairing must use record numbers
    text = SUMMARY + "\r\n" + zetasizer_wide_text(records)
    read = read_dls_file(write_file("both.txt", text))
    assert len(read) == 3 and all(r.has_correlogram for r in read)
    assert [r.reported_z_average_nm for r in read] == pytest.approx([104.7, 101.2, 96.1])


def test_generic_csv_correlogram_with_metadata(write_file):
    tau, g = correlogram([(80.0, 0.0, 1.0)], seed=3)
    lines = ["# sample_name: EV batch 12", "# temperature_c: 20.0", "# viscosity_cp: 1.002",
             "# refractive_index: 1.332", "# angle_deg: 90", "# wavelength_nm: 633.0",
             "# count_rate_kcps: 250", "# duration_s: 60", "# operator: not used by exoqc",
             "tau_us,g2m1"]
    lines += [f"{t * 1e6:.6g},{v:.6f}" for t, v in zip(tau, g, strict=True)]
    read = read_dls_file(write_file("ev.csv", "\n".join(lines) + "\n"))
    assert len(read) == 1
    record = read[0]
    assert record.sample_name == "EV batch 12"
    assert record.temperature_k == pytest.approx(293.15)
    assert record.viscosity_pa_s == pytest.approx(1.002e-3)
    assert (record.medium_refractive_index, record.angle_deg, record.wavelength_nm) == (
        1.332, 90.0, 633.0)
    assert record.count_rate_kcps == 250 and record.duration_s == 60
    assert record.defaults_used == ()
    assert record.tau_s[0] == pytest.approx(0.5e-6)


def test_generic_size_distribution_csv(write_file):
    text = "size_nm;volume\n50;0,0\n80;10,5\n120;60\n200;29,5\n"  # semicolons, decimal commas
    read = read_dls_file(write_file("dist.csv", text))
    assert read[0].weighting == "volume"
    assert read[0].weights == pytest.approx([0.0, 10.5, 60.0, 29.5])
    assert set(read[0].defaults_used) == {"temperature_k", "viscosity_pa_s",
                                          "medium_refractive_index", "wavelength_nm",
                                          "angle_deg"}


@pytest.mark.parametrize(("cell", "expected"), [(",5", 0.5), ("0,5e1", 5.0), ("12,5", 12.5)])
def test_decimal_comma_rule_reads_what_preps_csv_reads(write_file, cell, expected):
    """One decimal-comma rule for every reader (exoqc.tables.DECIMAL_COMMA): a cell
    preps.csv reads (tests/exoqc/test_dataset.py, same cells) a DLS export reads too."""
    text = f"size_nm;volume\n50;1\n80;{cell}\n120;60\n"
    assert read_dls_file(write_file("dist.csv", text))[0].weights[1] == pytest.approx(expected)


@pytest.mark.parametrize("cell", ["5,", ",", "1,2,3"])
def test_decimal_comma_rule_refuses_what_preps_csv_refuses(write_file, cell):
    text = f"size_nm;volume\n50;1\n80;{cell}\n120;60\n"
    with pytest.raises(DLSFormatError, match="not a number"):
        read_dls_file(write_file("dist.csv", text))


def test_format_is_detected_from_content_not_name(write_file):
    alv = write_file("measurement.csv", ALV_RUN.read_bytes())
    assert read_dls_file(alv)[0].instrument == "alv"
    assert detect_format(["random text", "more"]) is None


def _wide_with(cells: dict[str, str]) -> str:
    tau, g = correlogram([(100.0, 0.0, 1.0)], seed=5)
    record = zetasizer_record("S", 1, tau, g)
    text = zetasizer_wide_text([record])
    header, row = text.split("\r\n")[:2]
    names, values = header.split("\t"), row.split("\t")
    for name, value in cells.items():
        values[names.index(name)] = value
    return header + "\r\n" + "\t".join(values) + "\r\n"


def _truncated_wide_row() -> bytes:
    header, row = _wide_with({}).split("\r\n")[:2]
    return (header + "\r\n" + "\t".join(row.split("\t")[:150])).encode("latin-1")


def _alv_edited(row_after_section: int, replacement: list[str] | None,
                keep_rest: bool = True) -> bytes:
    """The ALV run with one row of its correlation section replaced (or the rest cut)."""
    lines = ALV_RUN.read_bytes().decode("latin-1").split("\r\n")
    at = lines.index('"Correlation"') + row_after_section
    rest = lines[at + 1:] if keep_rest else []
    return "\r\n".join([*lines[:at], *(replacement or []), *rest]).encode("latin-1")


def _alv_row(row_after_section: int) -> str:
    lines = ALV_RUN.read_bytes().decode("latin-1").split("\r\n")
    return lines[lines.index('"Correlation"') + row_after_section]


def _alv_without_section() -> bytes:
    lines = ALV_RUN.read_bytes().decode("latin-1").split("\r\n")
    return "\r\n".join(ln for ln in lines if ln != '"Correlation"').encode("latin-1")


BAD_FILES = {
    "empty": (b"", "empty", None, None),
    "blank lines only": (b"\r\n\r\n  \r\n", "empty", None, None),
    "binary": (bytes(range(256)) * 4, "binary", None, None),
    "utf-16 without BOM": ("tau_us,g2m1\n1,0.9\n".encode("utf-16-le"), "binary", None, None),
    "unknown layout": (b"a,b,c\n1,2,3\n", "not a DLS export", None, None),
    "nan correlation": (_wide_with({"Correlation Data[5]": "nan"}).encode("latin-1"),
                        "finite", 2, 1),
    "text in correlation": (_wide_with({"Correlation Data[7]": "n/a"}).encode("latin-1"),
                            "'n/a' is not a number", 2, 1),
    "negative lag": (_wide_with({"Correlation Delay Times[1] (µs)": "-0.5"}).encode("latin-1"),
                     "lag time 1", 2, 1),
    "lag axis not increasing": (
        _wide_with({"Correlation Delay Times[3] (µs)": "0.2"}).encode("latin-1"),
        "not increasing", 2, 1),
    "g2-1 below -1": (_wide_with({"Correlation Data[100]": "-1.5"}).encode("latin-1"),
                      "below −1", 2, 1),
    "zeta record": (_wide_with({"Type": "Zeta"}).encode("latin-1"), "'Zeta'", 2, 1),
    "temperature in kelvin in the celsius column": (
        _wide_with({"Temperature (°C)": "298.15"}).encode("latin-1"), "not plausible", 2, 1),
    "truncated zetasizer row": (_truncated_wide_row(), "truncated", 2, None),
    "header without records": (_wide_with({}).split("\r\n")[0].encode("latin-1"),
                               "no records", 1, None),
    "alv without correlation section": (_alv_without_section(), '"Correlation"', None, None),
    "alv row with a missing angle": (
        _alv_edited(3, ["\t".join(_alv_row(3).split("\t")[:-1])]), "row has 8 values", 61,
        None),
    "alv truncated after the header": (_alv_edited(1, None, keep_rest=False), "empty", None,
                                       None),
    "alv lag axis not increasing": (_alv_edited(6, [_alv_row(2)]), "not increasing", None, 1),
    "csv negative size": (b"size_nm,intensity\n-5,1\n10,2\n", "size 1", None, 1),
    "csv negative intensity": (b"size_nm,intensity\n5,1\n10,-2\n", "distribution value 2",
                               None, 1),
    "csv sizes not increasing": (b"size_nm,number\n50,1\n40,2\n", "not increasing", None, 1),
    "csv all zero": (b"size_nm,number\n50,0\n60,0\n", "all zero", None, 1),
    "csv text value": (b"tau_us,g2m1\n" + b"".join(f"{i},0.9\n".encode() for i in range(1, 9))
                       + b"9,abc\n", "'abc'", 10, 1),
    "csv too few lags": (b"tau_us,g2m1\n1,0.9\n2,0.8\n", "at least 8", None, 1),
    "csv bad metadata": (b"# temperature_c: warm\ntau_us,g2m1\n1,0.9\n", "not a number", 1,
                         None),
    "csv header only": (b"tau_us,g2m1\n", "no data rows", 1, None),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_input_gives_a_clear_error_naming_file_and_place(name, write_file):
    content, expected, line, record = BAD_FILES[name]
    path = write_file(f"bad_{name.replace(' ', '_')}.txt", content)
    with pytest.raises(DLSFormatError) as raised:
        read_dls_file(path)
    error = raised.value
    assert str(path) in str(error)
    assert expected in str(error)
    if line is not None:
        assert error.line == line
    if record is not None:
        assert error.record == record
        assert f"record {record}" in str(error)


def test_missing_file_is_a_dls_format_error(tmp_path):
    with pytest.raises(DLSFormatError, match="cannot be read"):
        read_dls_file(tmp_path / "nope.txt")


def test_zetasizer_metadata_columns_match_the_simulator_contract():
    # The simulator (issue 3) writes exactly these metadata columns.
    assert ZETASIZER_COLUMNS[:3] == ("Record Number", "Type", "Sample Name")
