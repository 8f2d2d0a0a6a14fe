"""Memory and time of reading inputs near exoqc's size limits (docs/reliability.md).

Each case writes a worst-case file (many small cells: the most objects per byte) into a
temporary folder and reads it in a fresh Python process, which prints its peak resident
memory (``ru_maxrss``) and the reading time. The peak of a process that only imports exoqc
is printed first: the reading's own memory is the difference.

Cases: a Zetasizer export of 3,700 records × 2,000 lag times (60 MB, read); a generic CSV
correlogram of 7.8 million lines (60 MB, refused by the line limit); a markers.csv of
1 million rows (38 MB, read).

Run: ``.venv/bin/python benchmarks/input_limits.py``
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

SIZE_BYTES = 60 * 1024**2

READ = """
import resource, sys, time
from pathlib import Path
from exoqc.errors import ExoqcInputError
from exoqc.features.dls.readers import read_dls_file
from exoqc.tables import read_table
kind, path = sys.argv[1], Path(sys.argv[2])
start = time.perf_counter()
outcome = "imported only"
if kind == "dls":
    try:
        outcome = f"{len(read_dls_file(path))} records"
    except ExoqcInputError as error:
        outcome = "refused: " + error.detail[:60]
elif kind == "table":
    outcome = f"{len(read_table(path))} rows"
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{peak:.0f}\\t{seconds:.1f}\\t{outcome}")
"""


def zetasizer_export(path: Path) -> None:
    n = 2000
    header = "\t".join(["Sample Name", *(f"Correlation Delay Times[{i}] (µs)"
                                         for i in range(1, n + 1)),
                        *(f"Correlation Data[{i}]" for i in range(1, n + 1))])
    row = "\t".join(["S", *(str(i) for i in range(1, n + 1)), *(["0.5"] * n)])
    with open(path, "w", encoding="latin-1") as handle:
        handle.write(header + "\r\n")
        for _ in range(SIZE_BYTES // len(row)):
            handle.write(row + "\r\n")


def csv_correlogram(path: Path) -> None:
    row = "1.5,0.5\n"
    with open(path, "w") as handle:
        handle.write("tau_us,g2m1\n")
        handle.write(row * (SIZE_BYTES // len(row)))


def markers_table(path: Path) -> None:
    with open(path, "w") as handle:
        handle.write("prep_id,marker,intensity,assay,run,unit\n")
        for i in range(1_000_000):
            handle.write(f"P{i // 20:06d},CD63,{i * 1.5:.4g},wb,B{i // 500}-WB1,AU\n")


def measure(kind: str, path: Path | None) -> list[str]:
    out = subprocess.run([sys.executable, "-c", READ, kind, str(path or "")],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip().split("\t")


def main() -> None:
    print("case\tfile MB\tpeak RSS MiB\tseconds\toutcome")
    peak, _, outcome = measure("import", None)
    print(f"python + exoqc imports\t-\t{peak}\t-\t{outcome}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, kind, writer in (
            ("Zetasizer export, 2000 lags/record", "dls", zetasizer_export),
            ("CSV correlogram, 7.8M lines", "dls", csv_correlogram),
            ("markers.csv, 1M rows", "table", markers_table),
        ):
            path = Path(tmp) / "input.txt"
            writer(path)
            peak, seconds, outcome = measure(kind, path)
            print(f"{name}\t{path.stat().st_size / 1e6:.0f}\t{peak}\t{seconds}\t{outcome}")


if __name__ == "__main__":
    main()
