"""Key generation, the primality check (against Wycheproof) and public-key validation."""

from __future__ import annotations

import json
from pathlib import Path

import gmpy2
import pytest

from secagg.errors import ConfigurationError, InvalidPublicKeyError
from secagg.paillier import (
    PRODUCTION_KEY_BITS,
    PrivateKey,
    generate_keypair,
    is_probable_prime,
    validate_public_key,
)

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "wycheproof"


def test_vector_path_is_the_shared_directory() -> None:
    assert VECTORS.parts[-3:] == ("shared", "vectors", "wycheproof")
    assert (VECTORS / "primality_test.json").is_file()


def _signed(hex_value: str) -> int:
    # Wycheproof encodes the value as a big-endian two's complement integer.
    return int.from_bytes(bytes.fromhex(hex_value), "big", signed=True)


def test_wycheproof_primality(capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads((VECTORS / "primality_test.json").read_text())
    passed = rejected = acceptable = 0
    for group in data["testGroups"]:
        for case in group["tests"]:
            value = _signed(case["value"])
            verdict = is_probable_prime(value)
            if case["result"] == "valid":
                assert verdict, f"tcId {case['tcId']}: prime rejected"
                passed += 1
            elif case["result"] == "invalid":
                assert not verdict, f"tcId {case['tcId']} ({case['comment']}): composite accepted"
                rejected += 1
            else:
                # "acceptable": negatives of primes; we call every negative number not prime.
                assert value < 0 and not verdict
                acceptable += 1
    assert passed + rejected + acceptable == data["numberOfTests"]
    with capsys.disabled():
        print(
            f"\nwycheproof primality: {passed} primes accepted, {rejected} composites rejected "
            f"as expected, {acceptable} 'acceptable' negatives rejected, 0 skipped"
        )


def test_generated_key_is_two_distinct_primes(key: PrivateKey) -> None:
    assert key.public.bits == 2048
    assert key.p != key.q and key.p * key.q == key.public.n
    assert is_probable_prime(key.p) and is_probable_prime(key.q)
    assert key.p.bit_length() == key.q.bit_length() == 1024
    assert "p=" not in repr(key) and str(key.p) not in repr(key)


def test_validation_accepts_a_real_key(key: PrivateKey) -> None:
    assert validate_public_key(key.public.n).n == key.public.n


@pytest.mark.parametrize(
    "make",
    [
        lambda n: n + 1,  # even
        lambda n: n >> 1024,  # 1024 bits: below the accepted sizes
        lambda n: n << 1 | 1,  # 2049 bits
        lambda n: int(gmpy2.next_prime(1 << 1023)) ** 2,  # perfect square
        lambda n: 3 * int(gmpy2.next_prime(1 << 2045)),  # small factor
        lambda n: 65521 * int(gmpy2.next_prime(1 << 2031)),  # largest prime below 2^16
        lambda n: 0,
        lambda n: -n,
    ],
    ids=["even", "1024-bit", "2049-bit", "square", "factor-3", "factor-65521", "zero", "negative"],
)
def test_validation_rejects(key: PrivateKey, make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidPublicKeyError):
        validate_public_key(make(key.public.n))


def test_perfect_cube_rejected() -> None:
    base = int(gmpy2.next_prime(gmpy2.iroot(1 << 2047, 3)[0]))
    cube = base**3
    assert cube.bit_length() == 2048
    with pytest.raises(InvalidPublicKeyError, match="perfect power"):
        validate_public_key(cube)


def test_small_keys_only_with_an_explicit_test_size() -> None:
    small = generate_keypair(512, allowed_bits=(512,))  # test-only size, stated explicitly
    assert 512 not in PRODUCTION_KEY_BITS
    assert validate_public_key(small.public.n, allowed_bits=(512,)).bits == 512
    with pytest.raises(InvalidPublicKeyError):
        validate_public_key(small.public.n)  # production validation refuses it
    with pytest.raises(ConfigurationError):
        generate_keypair(512)


def test_private_key_must_factor_n(key: PrivateKey) -> None:
    from secagg.errors import CryptoError

    with pytest.raises(CryptoError):
        PrivateKey(public=key.public, p=key.p, q=key.q + 2)
