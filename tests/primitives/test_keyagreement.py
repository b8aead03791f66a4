from __future__ import annotations

import pytest

from secagg.errors import KeyAgreementError
from secagg.primitives.keyagreement import KeyPair, Label, agree, derive_key


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
