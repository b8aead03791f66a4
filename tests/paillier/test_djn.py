"""DJN encryption: correctness, interoperation with phe, and ciphertext validation."""

from __future__ import annotations

import gmpy2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phe import paillier

from secagg.errors import InvalidCiphertextError
from secagg.paillier import Encryptor, ExponentMode, PrivateKey, check_ciphertexts
from secagg.paillier.decrypt import decrypt_many
from secagg.paillier.djn import best_window, exponent_bits


@pytest.fixture(scope="module")
def encryptor(key: PrivateKey) -> Encryptor:
    return Encryptor(key.public, expected_count=8)


def test_phe_private_key_decrypts(key: PrivateKey, encryptor: Encryptor) -> None:
    values = [0, 1, 2**64 + 7, key.public.n - 1]
    ciphertexts = encryptor.encrypt(values)
    private = key.to_phe()
    assert [private.raw_decrypt(int(c)) for c in ciphertexts] == values
    number = paillier.EncryptedNumber(key.public.to_phe(), int(ciphertexts[2]), exponent=0)
    assert private.decrypt(number) == 2**64 + 7


def test_crt_decryption_matches_phe(key: PrivateKey, encryptor: Encryptor) -> None:
    values = [5, 10**30, 123456789]
    ciphertexts = encryptor.encrypt(values)
    plain = decrypt_many(key, ciphertexts)
    assert plain == values


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2**1000), min_size=2, max_size=4))
def test_product_decrypts_to_sum(key: PrivateKey, encryptor: Encryptor, values: list[int]) -> None:
    n2 = key.public.n_square
    product = gmpy2.mpz(1)
    for c in encryptor.encrypt(values):
        product = product * c % n2
    assert decrypt_many(key, [product]) == [sum(values)]


def test_short_exponent_decrypts_and_is_shorter(key: PrivateKey) -> None:
    short = Encryptor(key.public, mode=ExponentMode.SHORT, expected_count=2)
    assert short.exp_bits == 224 and exponent_bits(ExponentMode.HALF, 2048) == 1024
    assert exponent_bits(ExponentMode.SHORT, 3072) == 256
    assert key.to_phe().raw_decrypt(int(short.encrypt([42])[0])) == 42


def test_fresh_randomness(encryptor: Encryptor) -> None:
    a, b = encryptor.encrypt([7, 7])
    assert a != b


def test_window_choice() -> None:
    assert best_window(1024, 1) <= 3
    assert best_window(1024, 11236) == 10  # capped: the table stays ~55 MB


def test_plaintext_out_of_range(key: PrivateKey, encryptor: Encryptor) -> None:
    with pytest.raises(InvalidCiphertextError):
        encryptor.encrypt([key.public.n])
    with pytest.raises(InvalidCiphertextError):
        encryptor.encrypt([-1])


def test_check_ciphertexts(key: PrivateKey, encryptor: Encryptor) -> None:
    good = encryptor.encrypt([1, 2])
    check_ciphertexts(good, key.public)
    n, n2 = key.public.n_mpz, key.public.n_square
    for bad in (gmpy2.mpz(0), n2, n2 + 1, gmpy2.mpz(key.p), n, gmpy2.mpz(key.q) * 12345):
        with pytest.raises(InvalidCiphertextError):
            check_ciphertexts([*good, bad], key.public)
