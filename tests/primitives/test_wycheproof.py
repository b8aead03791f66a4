"""Wycheproof vectors through the exact code paths secagg uses.

Each test prints (and checks) how many cases passed, were rejected as expected, and
were skipped with the reason; run with ``-s`` or see the ``-ra`` summary to read them.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from secagg.errors import AuthenticationError, KeyAgreementError
from secagg.primitives.aead import open_sealed, seal_with_nonce
from secagg.primitives.keyagreement import agree, hkdf_sha256


def _groups(path: Path) -> list[dict]:
    return json.loads(path.read_text())["testGroups"]


def _report(name: str, tally: Counter[str]) -> None:
    print(f"\nwycheproof {name}: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.items())))


def test_x25519(wycheproof_dir: Path) -> None:
    tally: Counter[str] = Counter()
    for group in _groups(wycheproof_dir / "x25519_test.json"):
        for case in group["tests"]:
            private, public = bytes.fromhex(case["private"]), bytes.fromhex(case["public"])
            expected = bytes.fromhex(case["shared"])
            if len(private) != 32 or len(public) != 32:
                with pytest.raises(KeyAgreementError):
                    agree(private, public)
                tally["rejected as expected (length)"] += 1
                continue
            if expected == bytes(32):
                # Low-order point: the all-zero secret must be refused, whatever the flag.
                with pytest.raises(KeyAgreementError):
                    agree(private, public)
                tally["rejected as expected (all-zero secret)"] += 1
                continue
            if case["result"] == "invalid":
                with pytest.raises(KeyAgreementError):
                    agree(private, public)
                tally["rejected as expected"] += 1
                continue
            assert agree(private, public) == expected, case["tcId"]
            tally["passed"] += 1
    _report("x25519", tally)
    assert tally["passed"] > 400
    assert tally["rejected as expected (all-zero secret)"] > 0


def test_hkdf_sha256(wycheproof_dir: Path) -> None:
    tally: Counter[str] = Counter()
    for group in _groups(wycheproof_dir / "hkdf_sha256_test.json"):
        for case in group["tests"]:
            ikm, salt = bytes.fromhex(case["ikm"]), bytes.fromhex(case["salt"])
            info, size = bytes.fromhex(case["info"]), case["size"]
            if case["result"] == "invalid":
                with pytest.raises(ValueError):
                    hkdf_sha256(ikm, salt=salt, info=info, length=size)
                tally["rejected as expected"] += 1
                continue
            assert hkdf_sha256(ikm, salt=salt, info=info, length=size) == bytes.fromhex(
                case["okm"]
            ), case["tcId"]
            tally["passed"] += 1
    _report("hkdf-sha256", tally)
    assert tally["passed"] > 50


def test_aes_gcm(wycheproof_dir: Path) -> None:
    tally: Counter[str] = Counter()
    for group in _groups(wycheproof_dir / "aes_gcm_test.json"):
        for case in group["tests"]:
            key, iv = bytes.fromhex(case["key"]), bytes.fromhex(case["iv"])
            if group["ivSize"] != 96:
                tally["skipped: secagg seals with 96-bit nonces only"] += 1
                continue
            if group["tagSize"] != 128:
                tally["skipped: secagg uses 128-bit tags only"] += 1
                continue
            aad, msg = bytes.fromhex(case["aad"]), bytes.fromhex(case["msg"])
            sealed = iv + bytes.fromhex(case["ct"]) + bytes.fromhex(case["tag"])
            if case["result"] == "invalid":
                with pytest.raises(AuthenticationError):
                    open_sealed(key, sealed, aad)
                tally["rejected as expected"] += 1
                continue
            assert open_sealed(key, sealed, aad) == msg, case["tcId"]
            assert seal_with_nonce(key, iv, msg, aad) == sealed, case["tcId"]
            tally["passed"] += 1
    _report("aes-gcm", tally)
    assert tally["passed"] > 100 and tally["rejected as expected"] > 20
