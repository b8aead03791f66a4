from __future__ import annotations

import itertools

import gmpy2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.errors import InsufficientSharesError, ShamirError
from secagg.primitives.shamir import PRIME, Share, reconstruct, split


def test_prime_is_the_smallest_prime_above_2_256() -> None:
    assert gmpy2.is_prime(PRIME, 64)
    assert PRIME > 2**256
    assert gmpy2.next_prime(2**256) == PRIME


@settings(max_examples=25, deadline=None)
@given(
    secrets=st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=3),
    n=st.integers(min_value=2, max_value=7),
    data=st.data(),
)
def test_every_t_subset_reconstructs(secrets, n, data) -> None:
    t = data.draw(st.integers(min_value=1, max_value=n))
    xs = data.draw(st.lists(st.integers(1, 2**32), min_size=n, max_size=n, unique=True))
    shares = split(secrets, xs, t)
    for subset in itertools.combinations(shares, t):
        assert reconstruct(list(subset), t) == secrets


def test_t_minus_one_shares_are_refused() -> None:
    shares = split([b"\x07" * 32], [1, 2, 3, 4, 5], 3)
    with pytest.raises(InsufficientSharesError):
        reconstruct(shares[:2], 3)


def _interpolate(points: list[tuple[int, int]], x: int) -> int:
    total = 0
    for i, (xi, yi) in enumerate(points):
        num, den = 1, 1
        for j, (xj, _) in enumerate(points):
            if j != i:
                num = num * (x - xj) % PRIME
                den = den * (xi - xj) % PRIME
        total = (total + yi * num * pow(den, -1, PRIME)) % PRIME
    return total


@pytest.mark.parametrize("candidate", [0, 1, 2**255 + 12345])
def test_t_minus_one_shares_are_consistent_with_any_secret(candidate: int) -> None:
    # Hiding: through the t-1 real shares and (0, candidate) passes a polynomial of
    # degree t-1, so a completing share exists that makes the candidate the secret.
    shares = split([b"\x07" * 32], [1, 2, 3], 3)[:2]
    points = [(s.x, s.ys[0]) for s in shares] + [(0, candidate)]
    completing = Share(x=3, ys=(_interpolate(points, 3),))
    assert reconstruct([*shares, completing], 3) == [candidate.to_bytes(32, "big")]


def test_duplicate_holders_and_zero_point_are_refused() -> None:
    with pytest.raises(ShamirError):
        split([b"\x01" * 32], [1, 1, 2], 2)
    with pytest.raises(ShamirError):
        split([b"\x01" * 32], [0, 1, 2], 2)
    shares = split([b"\x01" * 32], [1, 2, 3], 2)
    with pytest.raises(ShamirError):
        reconstruct([shares[0], shares[0]], 2)


def test_corrupt_share_is_detected_or_changes_the_secret() -> None:
    secret = b"\x42" * 32
    shares = split([secret], [1, 2, 3], 2)
    bad = Share(x=shares[0].x, ys=((shares[0].ys[0] + 1) % PRIME,))
    try:
        assert reconstruct([bad, shares[1]], 2) != [secret]
    except ShamirError:
        pass


def test_repr_hides_share_values() -> None:
    share = split([b"\x01" * 32], [1, 2], 2)[0]
    assert str(share.ys[0]) not in repr(share)
