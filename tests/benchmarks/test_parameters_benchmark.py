"""python -m benchmarks parameters: one real run, the weight-bit table, the doc tables."""

from __future__ import annotations

from pathlib import Path

from benchmarks import parameters


def test_one_quick_run_reports_accuracy_bytes_and_costs() -> None:
    row = parameters.run_one(("bits", "8 bits", {"bits": 8}, 2, True))
    assert 0.0 <= row["final_accuracy"] <= 1.0 and row["rounds_completed"] >= 1
    assert row["bytes_up_per_client"] > 0 and row["client_crypto_ms"] > 0


def test_weights_cost_log2_bits_per_coordinate() -> None:
    rows = parameters.weight_bits(bits=16, clients=100)
    assert rows[0] == {"max_weight": 1, "modulus_bits": 23}  # 100 * 65535 < 2^23
    ks = [r["modulus_bits"] for r in rows]
    assert ks == sorted(ks) and ks[-1] - ks[0] == 16  # w_max 60,000: 16 more bits


def test_the_tables_render(tmp_path: Path) -> None:
    runs = [
        {"table": t, "label": label, "final_accuracy": 0.9, "rounds_completed": 20,
         "rounds": 20, "bytes_up_per_client": 2048.0, "client_crypto_ms": 3.0,
         "server_crypto_ms": 9.0, "keyholder_crypto_ms": 500.0 if "Paillier" in label else 0.0,
         "clipped_per_round": 0.0, "max_error_vs_plain": 1.5e-5}
        for t, label, _ in parameters.RUNS
    ]
    data = {"command": "x", "git_commit": "abc", "runs": runs,
            "weight_bits": parameters.weight_bits(),
            "config": {"dataset": "mnist", "model": "mlp", "rounds": 20, "clients": 20,
                       "clients_per_round": 10, "dropout": 0.1}}
    text = "\n".join(parameters.table(data))
    assert "**Quantization bits" in text and "| 8 bits | 90.0 | 20/20 | 2.0 | 3.0 | 9.0 | 0 | 1.5e-05 |" in text
    assert "+ 500 key holder" in text and "| 60,000 | 39 |" in text
    doc = tmp_path / "p.md"
    doc.write_text(f"a\n{parameters.START}\nstale\n{parameters.END}\nb\n")
    parameters.write_doc(data, doc)
    assert "stale" not in doc.read_text() and "8 bits" in doc.read_text()
