"""``secagg attack``: each deviating-server demonstration recovers (or isolates) an
individual input against the honest mode, and is stopped in the malicious mode by the
defence built for it."""

from __future__ import annotations

import json

import pytest

from secagg.attacks import Scenario, run
from secagg.cli import main

STOPPED_BY = {
    Scenario.INCONSISTENT_SURVIVORS: "ConsistencyCheckError",
    Scenario.PAILLIER_KEY_SUBSTITUTION: "SignatureError",
    Scenario.FORGED_KEYS: "SignatureError",
    Scenario.RING_BIAS: "roster-bound ring",
    Scenario.MODEL_INCONSISTENCY: "ModelMismatchError",
}


@pytest.mark.parametrize("scenario", list(Scenario))
def test_the_attack_succeeds_against_the_honest_mode(scenario: Scenario) -> None:
    result = run(scenario, "honest")
    assert result.recovered and result.stopped_by is None


@pytest.mark.parametrize("scenario", list(Scenario))
def test_the_attack_is_stopped_in_the_malicious_mode(scenario: Scenario) -> None:
    result = run(scenario, "malicious")
    assert not result.recovered
    assert result.stopped_by is not None and result.stopped_by.startswith(STOPPED_BY[scenario])


@pytest.mark.parametrize("security", ["honest", "malicious"])
def test_the_command_line_prints_one_json_object(capsys, security: str) -> None:
    assert main(["attack", "forged-keys", "--security", security, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"scenario", "security", "recovered", "stopped_by"}
    assert report["scenario"] == "forged-keys" and report["security"] == security
    assert report["recovered"] is (security == "honest")
    assert (report["stopped_by"] is None) is (security == "honest")


def test_the_human_output_says_what_happened(capsys) -> None:
    assert main(["attack", "model-inconsistency", "--security", "malicious"]) == 0
    out = capsys.readouterr().out
    assert "did not recover" in out and "ModelMismatchError" in out
