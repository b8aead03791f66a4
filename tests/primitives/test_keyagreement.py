from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from secagg.errors import KeyAgreementError, WeakKeyError
from secagg.primitives import keyagreement
from secagg.primitives.keyagreement import (
    KeyPair,
    Label,
    agree,
    check_public_key,
    check_public_keys,
    derive_key,
    refused_public_key,
    same_key,
)


def test_both_sides_derive_the_same_key(entropy) -> None:
    a, b = KeyPair.generate(entropy), KeyPair.generate(entropy)
    assert agree(a.private, b.public) == agree(b.private, a.public)


def test_labels_and_sessions_separate_keys(entropy) -> None:
    a, b = KeyPair.generate(entropy), KeyPair.generate(entropy)
    shared = agree(a.private, b.public)
    keys = {
        derive_key(shared, label=label, session_id=session)
        for label in Label
        for session in (b"\x00" * 32, b"\x01" * 32)
    }
    assert len(keys) == 2 * len(Label)


def test_labels_are_distinct_and_none_prefixes_another() -> None:
    values = [label.value for label in Label]
    assert len(set(values)) == len(values)
    assert not any(a != b and b.startswith(a) for a in values for b in values)


def test_low_order_point_is_refused(entropy) -> None:
    with pytest.raises(KeyAgreementError):
        agree(KeyPair.generate(entropy).private, bytes(32))


def test_wrong_lengths_are_refused(entropy) -> None:
    with pytest.raises(KeyAgreementError):
        agree(b"\x01" * 31, KeyPair.generate(entropy).public)
    with pytest.raises(KeyAgreementError):
        KeyPair.from_private(b"\x01" * 33)


def test_repr_hides_the_private_key(entropy) -> None:
    pair = KeyPair.generate(entropy)
    assert pair.private.hex() not in repr(pair)


# --- public-key checks ---------------------------------------------------------------

P25519 = 2**255 - 19
_ORDER_8 = (
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
)
LISTED = (0, 1, P25519 - 1, *_ORDER_8)


def _encode(u: int) -> bytes:
    return u.to_bytes(32, "little")


def _encodings(u: int) -> list[bytes]:
    """u, and u + p where that still fits in 255 bits (only u <= 18), each also with
    bit 255 set (ignored by X25519). For the other listed u, u + p >= 2^255 and its
    32-byte encoding reads as u + p - 2^255 = u - 19: another point."""
    values = [u] + ([u + P25519] if u + P25519 < 2**255 else [])
    return [_encode(v) for v in values] + [_encode(v | 1 << 255) for v in values]


def test_x25519_public_keys_against_wycheproof(wycheproof_dir: Path) -> None:
    # Refused exactly when the vector's shared secret is all zero (the peer key has
    # small order), whatever the flags say and however the key is encoded.
    refused = accepted = 0
    cases = json.loads((wycheproof_dir / "x25519_test.json").read_text())["testGroups"]
    for case in (case for group in cases for case in group["tests"]):
        public = bytes.fromhex(case["public"])
        if len(public) != 32:
            with pytest.raises(WeakKeyError):
                check_public_key(public)
            continue
        if bytes.fromhex(case["shared"]) == bytes(32):
            with pytest.raises(WeakKeyError):
                check_public_key(public)
            refused += 1
        else:
            check_public_key(public)
            accepted += 1
    assert refused >= 30 and accepted > 400


def test_generated_keys_are_accepted(entropy) -> None:
    for _ in range(50):
        public = X25519PrivateKey.generate().public_key().public_bytes_raw()
        assert check_public_key(public) == int.from_bytes(public, "little") % P25519
    pair = KeyPair.generate(entropy)
    check_public_key(pair.public)


@pytest.mark.parametrize("u", LISTED)
def test_listed_points_are_refused_in_every_encoding(u: int) -> None:
    for public in _encodings(u):
        with pytest.raises(WeakKeyError):
            check_public_key(public)


@pytest.mark.parametrize("u", LISTED)
def test_listed_points_are_low_order(u: int) -> None:
    # The list is the right one: cryptography refuses the all-zero output they give.
    key = X25519PrivateKey.generate()
    with pytest.raises(ValueError):
        key.exchange(X25519PublicKey.from_public_bytes(_encode(u)))


def test_neighbours_of_listed_points_are_accepted() -> None:
    for u in LISTED:
        for v in {(u + 1) % P25519, (u - 1) % P25519} - set(LISTED):
            assert check_public_key(_encode(v)) == v


def test_wrong_lengths_are_weak_keys() -> None:
    for n in (0, 31, 33):
        with pytest.raises(WeakKeyError):
            check_public_key(b"\x09" * n)
        with pytest.raises(WeakKeyError):
            same_key(b"\x09" * n, b"\x09" * 32)
    assert issubclass(WeakKeyError, KeyAgreementError)


def test_bit_255_is_ignored(entropy) -> None:
    pair, peer = KeyPair.generate(entropy), KeyPair.generate(entropy)
    flipped = pair.public[:31] + bytes([pair.public[31] ^ 0x80])
    assert flipped != pair.public
    assert same_key(flipped, pair.public)
    assert check_public_key(flipped) == check_public_key(pair.public)
    # It really is the same key to X25519.
    assert agree(peer.private, flipped) == agree(peer.private, pair.public)


def test_u_and_u_plus_p_are_the_same_key() -> None:
    for u in (2, 9, 18):
        assert same_key(_encode(u), _encode(u + P25519))
        assert check_public_key(_encode(u + P25519)) == u


def test_distinct_keys_are_not_the_same(entropy) -> None:
    a, b = KeyPair.generate(entropy), KeyPair.generate(entropy)
    assert not same_key(a.public, b.public)
    assert same_key(a.public, bytes(a.public))


# --- whole key lists ------------------------------------------------------------------


def _reference(keys: list[bytes]) -> tuple[int, str] | None:
    """The scalar rule, key by key: the first weak key, else the first repeat."""
    for i, key in enumerate(keys):
        try:
            check_public_key(key)
        except WeakKeyError:
            return i, "weak"
    seen: set[int] = set()
    for i, key in enumerate(keys):
        u = check_public_key(key)
        if u in seen:
            return i, "repeat"
        seen.add(u)
    return None


# Keys near the special values, so that weak keys, wrapped encodings (u >= p) and
# repeats in another encoding all turn up often.
_SPECIAL = [*LISTED, 2, 9, P25519 - 2, P25519 + 1, P25519 + 18, 2**255 - 1, 2**254]
_KEY = st.one_of(
    st.sampled_from(_SPECIAL),
    st.integers(0, 2**255 - 1),
).flatmap(lambda u: st.sampled_from([_encode(u), _encode(u | 1 << 255)]))


@settings(max_examples=300, deadline=None)
@given(st.lists(_KEY, max_size=12))
def test_both_list_checks_agree_with_the_key_by_key_rule(keys: list[bytes]) -> None:
    # Short lists (a neighbour list) are checked key by key, long ones (a complete
    # graph's) vectorized: both must give the reference's answer.
    expected = _reference(keys)
    few, many = keyagreement._refused_few(keys), keyagreement._refused_many(keys)
    assert few == many
    found = refused_public_key(keys)
    assert (found is None) == (expected is None)
    if expected is not None and found is not None:
        assert found[0] == expected[0]
        assert ("small-order" in found[1]) == (expected[1] == "weak")
        with pytest.raises(WeakKeyError, match=f"key {expected[0]} "):
            check_public_keys(keys)
    else:
        check_public_keys(keys)


def test_the_list_check_sees_copies_in_another_encoding(entropy) -> None:
    keys = [KeyPair.generate(entropy).public for _ in range(200)]
    check_public_keys(keys)
    assert refused_public_key([*keys, keys[17][:31] + bytes([keys[17][31] | 0x80])]) == (
        200,
        "repeats an earlier key",
    )
    assert refused_public_key([_encode(5 + P25519), *keys, _encode(5)])[0] == 201
    # Past the short-list size, the vectorized check answers the same.
    many = [KeyPair.generate(entropy).public for _ in range(keyagreement._SMALL_LIST)]
    assert refused_public_key([*many, many[3]]) == (len(many), "repeats an earlier key")
    assert refused_public_key([*many, _encode(LISTED[0])])[0] == len(many)


@pytest.mark.parametrize("bad", [b"", b"\x09" * 31, b"\x09" * 33, bytearray(32), "x" * 32])
def test_the_list_check_refuses_keys_that_are_not_32_bytes(bad) -> None:
    with pytest.raises(WeakKeyError):
        check_public_keys([bytes(range(32)), bad])
