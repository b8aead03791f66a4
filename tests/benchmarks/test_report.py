"""docs/benchmarks.md and the plots from a small synthetic CSV + meta JSON."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from benchmarks.plots import Point, load_points, make_plots
from benchmarks.report import DASH, FULL_HEADERS, ReportError, fmt, main, render
from benchmarks.schema import COLUMNS, PROTOCOLS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS = ("time_vs_clients", "time_vs_dim", "bytes_vs_clients", "ratio_to_floor")


def row(protocol: str, clients: int, dim: int, rep: int, **over: object) -> dict[str, str]:
    """One CSV row with plausible defaults; ``over`` replaces cells (None: empty cell)."""
    base: dict[str, object] = {c: "" for c in COLUMNS}
    masking = protocol in ("secagg", "secagg+", "flower-secagg+")
    base.update(
        protocol=protocol,
        method="measured",
        clients=clients,
        neighbours=min(clients - 1, 8) if protocol.endswith("secagg+") else 0,
        threshold=clients // 2 + 1 if protocol != "plain" else None,
        dim=dim,
        bits=16,
        dropout=0.0,
        rep=rep,
        survivors=clients,
        exact=True,
        client_cpu_s=1e-4 * dim / 1000,
        client_cpu_s_max=2e-4 * dim / 1000,
        server_cpu_s=1e-3 * clients,
        keyholder_cpu_s=0.5 if protocol in ("paillier", "phe-paillier") else None,
        total_cpu_s=1e-3 * clients * dim / 1000 * (2 if masking else 1),
        wall_s=1.0,
        bytes_up_per_client=4 * dim + 100 * clients,
        bytes_down_per_client=1000,
        expansion_vs_float32=1.1,
        peak_rss_mb=120.0,
        floor_s=1e-3,
        ratio_to_floor=3.0,
        extrapolated=False,
    )
    base.update(over)
    return {k: "" if v is None else str(v) for k, v in base.items()}


def synthetic_rows() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for protocol in ("plain", "secagg", "secagg+", "flower-secagg+"):
        for clients in (10, 50):
            for dim in (1000, 10_000):
                for rep in range(2):
                    if (protocol, clients, dim) == ("secagg+", 50, 1000):
                        continue  # written below with chosen values
                    if (protocol, clients, dim) == ("flower-secagg+", 50, 1000):
                        continue
                    extra: dict[str, object] = {}
                    if protocol == "plain":  # empty cells: no threshold, bits, keyholder
                        extra = {"bits": None, "threshold": None}
                    rows.append(row(protocol, clients, dim, rep, **extra))
    # The Flower point: three reps whose median, mean and first value all differ.
    # ours: 1, 2, 10 -> median 2 (mean 4.33, first 1); Flower: 30, 10, 12 -> median 12.
    for rep, (ours, theirs) in enumerate([(1.0, 30.0), (2.0, 10.0), (10.0, 12.0)]):
        rows.append(
            row("secagg+", 50, 1000, rep, total_cpu_s=ours, client_cpu_s=0.01, server_cpu_s=0.5)
        )
        rows.append(
            row(
                "flower-secagg+",
                50,
                1000,
                rep,
                total_cpu_s=theirs,
                client_cpu_s=0.2,
                server_cpu_s=3.0,
                ratio_to_floor=40.0,
                bytes_up_per_client=20_000,
            )
        )
    for rep in range(2):
        rows.append(row("paillier", 10, 1000, rep, client_cpu_s=0.01, bytes_up_per_client=6000))
        rows.append(
            row(
                "phe-paillier",
                10,
                1000,
                rep,
                method="extrapolated",
                client_cpu_s=10.0,
                bytes_up_per_client=512_000,
                extrapolated=True,
            )
        )
        rows.append(row("secagg+", 1000, 100_000, rep, peak_rss_mb=2048.0, total_cpu_s=400.0))
        rows.append(row("secagg", 100, 100_000, rep, peak_rss_mb=900.0, exact=rep == 0))
    return rows


COMMAND = "python -m benchmarks sweep --out results/run.csv --reps 2"
NOTES = ["Flower driven through its SecAgg+ workflow", "phe times extrapolated from 200"]
META = {
    "command": COMMAND,
    "started": "2026-11-22T06:00:00+00:00",
    "finished": "2026-11-22T07:00:00+00:00",
    "git_commit": "0123456789abcdef",
    "quick": False,
    "machine": {
        "platform": "Linux-6.1-x86_64",
        "cpu_model": "Synthetic CPU 9000",
        "cores": 2,
        "memory_gb": 8.0,
        "python": "3.11.7",
        "numpy": "2.0",
        "cryptography": "43.0",
        "openssl": "OpenSSL 3.0",
        "gmpy2": "2.2",
        "phe": "1.5",
        "flwr": None,
    },
    "notes": NOTES,
}


def write_csv(path: Path, rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    path.with_suffix(".meta.json").write_text(json.dumps(META), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    tmp = tmp_path_factory.mktemp("report")
    csv_path = write_csv(tmp / "run.csv", synthetic_rows())
    doc = tmp / "docs" / "benchmarks.md"
    text = render(csv_path, doc, tmp / "docs" / "img" / "benchmarks")
    assert doc.read_text(encoding="utf-8") == text
    return text, tmp


def table_rows(text: str, first_cell: str) -> list[list[str]]:
    """Cells of the Markdown table rows whose first cell is ``first_cell``."""
    out = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            out.append(cells)
    return out


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n#", start + len(heading))
    return text[start : end if end >= 0 else None]


def test_flower_row_uses_medians_of_reps(rendered: tuple[str, Path]) -> None:
    text, _ = rendered
    flower = section(text, "### Our SecAgg+ against Flower's SecAgg+ (50 clients)")
    (cells,) = table_rows(flower, "1,000")
    # dim, dropout, neighbours, total ours, total Flower, speed-up, client, client, server, server
    assert cells[3:6] == ["2.00", "12.0", "6.00\u00d7"]  # medians 2 and 12; mean would give 4
    assert cells[6:10] == ["0.0100", "0.200", "0.500", "3.00"]
    assert cells[10:12] == ["9,000", "20,000"]
    assert cells[2] == "8 / 8"
    assert len(table_rows(flower, "10,000")) == 1


def test_paillier_against_phe_per_parameter(rendered: tuple[str, Path]) -> None:
    text, _ = rendered
    part = section(text, "### Our packed Paillier against phe")
    (cells,) = table_rows(part, "10")
    # ours 0.01 s / 1000 params, phe 10 s / 1000 params (extrapolated, marked)
    assert cells[3:6] == ["1.00e-05", "0.0100\u2020", "1,000\u00d7"]
    assert cells[6:9] == ["6.00", "512", "85.3\u00d7"]


def test_floor_ratios_and_descriptions(rendered: tuple[str, Path]) -> None:
    text, _ = rendered
    part = section(text, "### Ratio to the floor")
    (flower,) = table_rows(part, "flower-secagg+")
    # flower: 3 points at ratio 3 and the 50-client point at 40 -> median of 4 points 3
    assert flower[1:4] == ["4", "3.00", f"3.00 {DASH} 40.0"]
    assert "keystream" in flower[4]
    (phe,) = table_rows(part, "phe-paillier")
    assert "modular exponentiations" in phe[4]
    assert "additions" in table_rows(part, "plain")[0][4]


def test_scale_points(rendered: tuple[str, Path]) -> None:
    text, _ = rendered
    part = section(text, "### Scale points")
    (big,) = table_rows(part, "secagg+")
    assert big[1:3] == ["1,000", "100,000"] and big[6] == "400" and big[8] == "2,050"
    (sa,) = table_rows(part, "secagg")
    assert sa[9] == "**no** (1/2)"  # one of two reps not exact
    assert "Not in this run" not in part


def test_full_table_empty_cells_and_marks(rendered: tuple[str, Path]) -> None:
    text, _ = rendered
    part = section(text, "## All points")
    col = {h: i for i, h in enumerate(FULL_HEADERS)}
    plain = table_rows(part, "plain")
    assert len(plain) == 4  # 2 clients x 2 dims, reps folded
    for cells in plain:
        assert len(cells) == len(FULL_HEADERS)
        assert cells[col["bits"]] == DASH
        assert cells[col["keyholder CPU s"]] == DASH
        assert cells[col["reps"]] == "2"
        assert cells[col["exact (all reps)"]] == "yes"
    (phe,) = table_rows(part, "phe-paillier")
    assert phe[col["method"]] == "extrapolated"
    assert phe[col["total CPU s"]].endswith("\u2020")
    protocols = [r[0] for r in table_rows(part, "protocol")]
    assert protocols == ["protocol"]  # one header
    present = {line.split("|")[1].strip() for line in part.splitlines() if line.startswith("| ")}
    assert set(PROTOCOLS) <= present


def test_header_machine_commands_notes(rendered: tuple[str, Path]) -> None:
    text, _ = rendered
    assert "python -m benchmarks.report" in text and "do not edit by hand" in text
    assert "Synthetic CPU 9000" in text and "`0123456789abcdef`" in text
    assert "make bench" in text and "python -m benchmarks sweep --quick" in text
    assert COMMAND in text
    assert "median" in text and "noisy" in text and "not wall" in text.replace("-clock", "")
    for note in NOTES:
        assert f"- {note}" in text
    (flwr,) = table_rows(text, "flwr")
    assert flwr[1] == DASH


def test_plots_are_pngs_linked_relative(rendered: tuple[str, Path]) -> None:
    text, tmp = rendered
    for name in PLOTS:
        png = tmp / "docs" / "img" / "benchmarks" / f"{name}.png"
        assert png.read_bytes()[:8] == PNG_MAGIC
        assert f"](img/benchmarks/{name}.png)" in text


def test_make_plots_skips_missing_data(tmp_path: Path) -> None:
    rows = [r | {"bytes_up_per_client": ""} for r in synthetic_rows() if r["protocol"] == "plain"]
    written = make_plots(rows, tmp_path)
    assert [p.stem for p in written] == ["time_vs_clients", "time_vs_dim", "ratio_to_floor"]
    assert not (tmp_path / "bytes_vs_clients.png").exists()
    assert make_plots([], tmp_path / "none") == []


def test_points_fold_reps_into_medians() -> None:
    rows = [row("secagg", 10, 100, rep, total_cpu_s=t) for rep, t in enumerate([5.0, 1.0, 2.0])]
    (point,) = load_points(rows)
    assert isinstance(point, Point) and point.reps == 3
    assert (point.median("total_cpu_s"), point.low("total_cpu_s")) == (2.0, 1.0)
    assert point.high("total_cpu_s") == 5.0 and point.median("keyholder_cpu_s") is None


def test_missing_column_is_a_clear_error(tmp_path: Path) -> None:
    columns = tuple(c for c in COLUMNS if c != "ratio_to_floor")
    csv_path = write_csv(tmp_path / "run.csv", synthetic_rows(), columns)
    with pytest.raises(ReportError, match="ratio_to_floor"):
        render(csv_path, tmp_path / "b.md", tmp_path / "img")
    assert not (tmp_path / "b.md").exists()


@pytest.mark.parametrize(
    ("cell", "value", "message"),
    [
        ("protocol", "secagg-2", "unknown protocol"),
        ("total_cpu_s", "fast", "line 3: total_cpu_s"),
        ("exact", "maybe", "not a boolean"),
        ("dim", "10.5", "not an integer"),
    ],
)
def test_bad_cells_are_errors(tmp_path: Path, cell: str, value: str, message: str) -> None:
    rows = [row("secagg", 10, 100, 0), row("secagg", 10, 100, 1) | {cell: value}]
    with pytest.raises(ReportError, match=message):
        render(write_csv(tmp_path / "run.csv", rows), tmp_path / "b.md", tmp_path / "img")


def test_missing_meta_is_an_error(tmp_path: Path) -> None:
    csv_path = write_csv(tmp_path / "run.csv", [row("plain", 10, 100, 0)])
    csv_path.with_suffix(".meta.json").unlink()
    with pytest.raises(ReportError, match="meta"):
        render(csv_path, tmp_path / "b.md", tmp_path / "img")


def test_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = write_csv(tmp_path / "run.csv", [row("plain", 10, 100, 0)])
    doc = tmp_path / "out" / "b.md"
    assert main([str(csv_path), "--doc", str(doc), "--img-dir", str(tmp_path / "img")]) == 0
    assert doc.exists() and "Not in this run" in doc.read_text(encoding="utf-8")
    assert main([str(tmp_path / "absent.csv"), "--doc", str(doc)]) == 1
    assert "absent.csv" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, DASH),
        (0, "0"),
        (12_345, "12,300"),
        (999.6, "1,000"),
        (0.012345, "0.0123"),
        (2.0, "2.00"),
        (1.5e-6, "1.50e-06"),
        (-3.14159, "-3.14"),
    ],
)
def test_fmt(value: float | None, text: str) -> None:
    assert fmt(value) == text
