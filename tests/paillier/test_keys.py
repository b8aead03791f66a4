"""Key generation, the primality check (against Wycheproof) and public-key validation."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import gmpy2
import pytest

from secagg.errors import ConfigurationError, InputError, InvalidPublicKeyError
from secagg.paillier import (
    PRODUCTION_KEY_BITS,
    PrivateKey,
    generate_keypair,
    is_probable_prime,
    validate_public_key,
)

keys = importlib.import_module("secagg.paillier.keys")

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


# --- trial division by every prime below 2^20 --------------------------------------


def _with_small_factor(p: int, bits: int = 2048) -> int:
    """An odd ``bits``-bit modulus p * c with c a large prime: not a perfect power."""
    cofactor = int(gmpy2.next_prime((1 << (bits - 1)) // p + 1))
    n = p * cofactor
    assert n.bit_length() == bits and n % 2 == 1
    return n


@pytest.mark.parametrize(
    "factor",
    [
        3,
        65521,  # the largest prime below 2^16: refused before and now
        65537,  # just above 2^16: the old check accepted it
        1 << 16 | 1 << 15 | 1,  # not prime itself: 98305 = 5 * 19661
        int(gmpy2.next_prime(1 << 19)),
        1048573,  # the largest prime below 2^20
    ],
)
@pytest.mark.parametrize("bits", [2048, 3072])
def test_factors_below_the_bound_are_refused(factor: int, bits: int) -> None:
    with pytest.raises(InvalidPublicKeyError, match="prime factor below 2\\^20"):
        validate_public_key(_with_small_factor(factor, bits))


def test_the_bound_is_2_to_the_20() -> None:
    assert keys.SMALL_FACTOR_BOUND == 1 << 20
    assert int(gmpy2.prev_prime(keys.SMALL_FACTOR_BOUND)) == 1048573
    # A factor just above the bound passes this check (nothing cheap can refuse it).
    above = int(gmpy2.next_prime(keys.SMALL_FACTOR_BOUND))
    assert validate_public_key(_with_small_factor(above)).bits == 2048


def test_the_product_is_every_prime_below_the_bound() -> None:
    product = keys._small_primes_product()
    assert product == keys._product_tree(keys._primes_below(keys.SMALL_FACTOR_BOUND))
    assert product % 1048573 == 0 and product % (1 << 20 | 7) != 0  # 1048583 is prime
    assert keys._primes_below(30) == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]
    assert keys._primes_below(2) == [] and keys._product_tree([]) == 1


def test_the_product_is_not_built_at_import() -> None:
    code = (
        "import secagg, secagg.paillier.keys as k\n"
        "assert k._small_primes_product.cache_info().currsize == 0\n"
        "k.is_probable_prime((1 << 127) - 1)\n"
        "assert k._small_primes_product.cache_info().currsize == 1\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_real_keys_are_accepted(key: PrivateKey, other_key: PrivateKey) -> None:
    for k in (key, other_key):
        assert validate_public_key(k.public.n).n == k.public.n


@pytest.mark.parametrize("bits", [2048, 3072])
def test_random_moduli_of_two_large_primes_are_accepted(bits: int) -> None:
    half = bits // 2
    p = int(gmpy2.next_prime((1 << (half - 1)) | (1 << (half - 2)) | 12345))
    q = int(gmpy2.next_prime(p + (1 << (half - 3))))
    assert validate_public_key(p * q).bits == bits


def test_primality_around_the_bound() -> None:
    # Primes below the bound are their own small factor: they are decided exactly.
    assert is_probable_prime(1048573) and is_probable_prime(65537) and is_probable_prime(2)
    assert is_probable_prime(int(gmpy2.next_prime(1 << 20)))
    assert not is_probable_prime(1048573 * 1048571)  # above the bound, both factors below
    assert not is_probable_prime(65537 * int(gmpy2.next_prime(1 << 100)))
    assert not is_probable_prime(1 << 20)


@pytest.mark.parametrize("value", [2.0, "7", None, True])
def test_primality_refuses_non_integers(value: object) -> None:
    with pytest.raises(InputError):
        is_probable_prime(value)  # type: ignore[arg-type]


def test_primality_accepts_mpz() -> None:
    assert is_probable_prime(gmpy2.mpz(1048573))
