from __future__ import annotations

import json

import pytest

from secagg.cli import main

FIELDS = {
    "protocol", "clients", "neighbours", "threshold", "dim", "survivors", "exact",
    "max_abs_error", "client_cpu_s", "server_cpu_s", "stage_cpu_s", "bytes_up_per_client",
    "bytes_down_per_client", "expansion_vs_float32", "mask_vectors",
}


@pytest.mark.parametrize("protocol", ["secagg", "secagg+"])
@pytest.mark.parametrize("stage", ["advertise", "share", "upload", "unmask"])
def test_simulate_json(capsys, protocol: str, stage: str) -> None:
    args = ["simulate", "--protocol", protocol, "--clients", "12", "--dim", "300",
            "--dropout", "0.1", "--dropout-stage", stage, "--bits", "12", "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert FIELDS <= set(report)
    assert report["exact"] is True
    assert report["survivors"] == (12 if stage == "unmask" else 11)
    assert report["max_abs_error"] <= 2 / (2**12 - 1) + 1e-9
    # k-bit packing: upload within 2% of k/8 bytes per element (plus keys and shares)
    assert report["bytes_up_per_client"] < 1.02 * report["modulus_bits"] / 8 * 301 + 3000


def test_simulate_human_output(capsys) -> None:
    assert main(["simulate", "--clients", "5", "--dim", "10", "--dropout", "0"]) == 0
    assert "exact sum: True" in capsys.readouterr().out


def test_too_many_dropouts_abort_with_a_clear_message(capsys) -> None:
    assert main(["simulate", "--clients", "6", "--dim", "10", "--dropout", "0.6",
                 "--dropout-stage", "upload"]) == 2
    assert "AbortError" in capsys.readouterr().err


@pytest.mark.parametrize("protocol", ["paillier", "plain"])
def test_simulate_other_backends_json(capsys, protocol: str) -> None:
    args = ["simulate", "--protocol", protocol, "--clients", "4", "--dim", "200",
            "--dropout", "0.25", "--dropout-stage", "upload", "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert FIELDS <= set(report)
    assert report["exact"] is True and report["survivors"] == 3
    assert (report["keyholder_cpu_s"] > 0) is (protocol == "paillier")


def test_the_library_cli_has_no_harness(capsys) -> None:
    # secagg never imports benchmarks: the sweep runs from the checkout.
    assert main(["bench"]) == 2
    assert "python -m benchmarks sweep" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags",
    [["--clients", "0"], ["--dim", "-1"], ["--dropout", "1.5"], ["--bits", "40"],
     ["--clip", "1e-310"], ["--protocol", "secagg+", "--clients", "5", "--neighbours", "3"]],
)
def test_bad_settings_are_one_line_errors(capsys, flags) -> None:
    assert main(["simulate", "--dim", "10", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("secagg: ") and "Traceback" not in err


def test_simulate_malicious_json(capsys) -> None:
    args = ["simulate", "--protocol", "secagg+", "--clients", "60", "--dim", "50",
            "--dropout", "0.1", "--dropout-stage", "upload", "--security", "malicious", "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["exact"] is True and report["security"] == "malicious"
    assert report["survivors"] == 54
    # every key list and every consistency set is checked against signatures
    assert report["signature_checks"] >= 54 * report["neighbours"]
    assert "consistency" in report["stage_cpu_s"]


def test_max_corrupt_sets_the_collusion_bound(capsys) -> None:
    base = ["simulate", "--clients", "60", "--dim", "20", "--dropout", "0", "--json",
            "--security", "malicious"]
    assert main([*base, "--max-corrupt", "0"]) == 0
    alone = json.loads(capsys.readouterr().out)
    assert main([*base, "--max-corrupt", "9"]) == 0
    colluding = json.loads(capsys.readouterr().out)
    assert (alone["max_corrupt"], colluding["max_corrupt"]) == (0, 9)
    assert alone["threshold"] == alone["neighbours"] // 2 + 1
    assert 2 * colluding["threshold"] > colluding["neighbours"] + 1
    assert colluding["threshold"] > alone["threshold"]
    # honest mode has no collusion bound to set
    assert main(["simulate", "--dim", "10", "--max-corrupt", "2"]) == 2
