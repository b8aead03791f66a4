from __future__ import annotations

import itertools
import random

import gmpy2
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from secagg.errors import CorruptSharesError, InsufficientSharesError, ShamirError
from secagg.primitives import shamir
from secagg.primitives.shamir import (
    PRIME,
    Recovered,
    Share,
    lagrange_at_zero,
    reconstruct,
    recover,
    split,
)


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


# --- recovery that detects and corrects wrong shares ---------------------------------


def _on_polynomial(coeffs: list[list[int]], xs: list[int]) -> list[Share]:
    """Shares of arbitrary polynomials (one coefficient list per secret, lowest first)."""
    return [
        Share(x=x, ys=tuple(sum(c * x**d for d, c in enumerate(cs)) % PRIME for cs in coeffs))
        for x in xs
    ]


def _with_deltas(shares: list[Share], deltas: dict[int, list[int]]) -> list[Share]:
    """Add ``deltas[i][k]`` to value k of share i (a zero delta leaves the value alone)."""
    out = list(shares)
    for i, ds in deltas.items():
        out[i] = Share(
            x=shares[i].x, ys=tuple((y + d) % PRIME for y, d in zip(shares[i].ys, ds, strict=True))
        )
    return out


def _checker(secrets: list[bytes], calls: list[int] | None = None):
    def verify(k: int, candidate: bytes) -> bool:
        if calls is not None:
            calls.append(k)
        return candidate == secrets[k]

    return verify


@st.composite
def _sizes(draw, *, min_extra: int):
    """(m, t) with 1 <= t <= m - min_extra, m <= 9."""
    m = draw(st.integers(min_value=1 + min_extra, max_value=9))
    return m, draw(st.integers(min_value=1, max_value=m - min_extra))


@st.composite
def _correctable_sizes(draw):
    """(m, t) with e = floor((m - t) / 2) in 1..4, m - t even or odd."""
    t, e = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return t + 2 * e + draw(st.integers(0, 1)), t


@st.composite
def _setting(draw, sizes):
    """Secrets, their shares at m distinct points, and the m, t of the sharing."""
    m, t = draw(sizes)
    secrets = draw(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=3))
    xs = draw(st.lists(st.integers(1, 2**32), min_size=m, max_size=m, unique=True))
    seed = draw(st.binary(min_size=8, max_size=8))
    shares = split(secrets, xs, t, entropy=_entropy(seed))
    return secrets, shares, m, t


def _entropy(seed: bytes):
    state = random.Random(seed)
    return lambda n: state.randbytes(n)


def _corruption(
    draw, shares: list[Share], count: int, value, *, every_secret: bool = False
) -> dict[int, list[int]]:
    """Deltas for ``count`` shares at random positions, each nonzero for >= 1 secret
    (for every secret if ``every_secret``)."""
    positions = draw(st.permutations(range(len(shares))))[:count]
    deltas = {}
    for i in positions:
        n = len(shares[i].ys)
        some = value if every_secret else st.one_of(st.just(0), value)
        ds = draw(st.lists(some, min_size=n, max_size=n))
        if not any(ds):
            ds[draw(st.integers(0, n - 1))] = draw(value)
        deltas[i] = ds
    return deltas


_NONZERO = st.integers(min_value=1, max_value=PRIME - 1)


@settings(max_examples=60, deadline=None)
@given(setting=_setting(_correctable_sizes()), data=st.data())
def test_up_to_e_wrong_shares_are_corrected_and_named(setting, data) -> None:
    secrets, shares, m, t = setting
    e = (m - t) // 2  # >= 1; no wrong share at all is test_consistent_shares_...
    count = data.draw(st.integers(1, e))
    deltas = _corruption(data.draw, shares, count, _NONZERO)
    received = _with_deltas(shares, deltas)
    wrong = frozenset(shares[i].x for i in deltas)
    event(f"{count} wrong, e = {e}")

    assert recover(received, t) == Recovered(secrets=secrets, bad=wrong)
    assert reconstruct(received, t) == secrets
    checked = recover(received, t, verify=_checker(secrets))
    # With verify, shares beyond the first t are looked at only if the fast path fails.
    assert checked.secrets == secrets and checked.bad <= wrong


@settings(max_examples=40, deadline=None)
@given(setting=_setting(_sizes(min_extra=1)), data=st.data())
def test_more_random_wrong_shares_than_correctable_are_refused(setting, data) -> None:
    _, shares, m, t = setting
    e = (m - t) // 2
    count = data.draw(st.integers(e + 1, m))
    # Uniformly random wrong values: landing within e of another codeword has
    # probability about p^-(m - t - e), i.e. never.
    state = random.Random(data.draw(st.integers(0, 2**64)))
    uniform = st.builds(lambda: state.randrange(1, PRIME))
    deltas = _corruption(data.draw, shares, count, uniform, every_secret=True)
    with pytest.raises(CorruptSharesError):
        recover(_with_deltas(shares, deltas), t)


@settings(max_examples=60, deadline=None)
@given(setting=_setting(_sizes(min_extra=0)), data=st.data())
def test_with_verify_a_rejected_value_is_never_returned(setting, data) -> None:
    # Any number of wrong shares, with values chosen by hypothesis (0, 1, p - 1, ...).
    secrets, shares, m, t = setting
    deltas = _corruption(data.draw, shares, data.draw(st.integers(1, m)), _NONZERO)
    try:
        result = recover(_with_deltas(shares, deltas), t, verify=_checker(secrets))
    except CorruptSharesError:
        event("refused")
        return
    event("corrected")
    assert result.secrets == secrets


def test_colluding_holders_beyond_m_minus_t_need_verify() -> None:
    # m = 5, t = 3: the holders at 3, 4, 5 replace their shares by a polynomial g that
    # agrees with the honest shares at 1 and 2 and has g(0) = fake. All five shares lie
    # on g, so without verify the sharing is indistinguishable from one of ``fake``.
    real, fake = b"\x11" * 32, b"\x22" * 32
    shares = split([real], [1, 2, 3, 4, 5], 3)
    y1, y2 = shares[0].ys[0], shares[1].ys[0]
    points = [(0, int.from_bytes(fake, "big")), (1, y1), (2, y2)]
    forged = [*shares[:2], *(Share(x, (_interpolate(points, x),)) for x in (3, 4, 5))]

    assert recover(forged, 3) == Recovered(secrets=[fake], bad=frozenset())  # documented
    with pytest.raises(CorruptSharesError):
        recover(forged, 3, verify=_checker([real]))


def test_exactly_t_shares_with_a_wrong_one_and_verify_are_refused() -> None:
    secret = b"\x42" * 32
    shares = split([secret], [1, 2, 3], 3)
    received = _with_deltas(shares, {1: [5]})
    with pytest.raises(CorruptSharesError):
        recover(received, 3, verify=_checker([secret]))
    with pytest.raises(CorruptSharesError):
        reconstruct(received, 3, verify=_checker([secret]))


def test_consistent_shares_give_no_bad_holders() -> None:
    secrets = [b"\x01" * 32, b"\x02" * 32]
    shares = split(secrets, [3, 5, 7, 11, 13, 17], 4)
    assert recover(shares, 4) == Recovered(secrets=secrets, bad=frozenset())
    assert recover(shares, 4, verify=_checker(secrets)).bad == frozenset()
    assert recover(shares[:4], 4) == Recovered(secrets=secrets, bad=frozenset())


def test_verify_fast_path_neither_checks_nor_decodes(monkeypatch) -> None:
    secrets = [b"\x01" * 32, b"\x02" * 32, b"\x03" * 32]
    shares = split(secrets, list(range(1, 10)), 5)

    def refuse(*args: object) -> None:
        raise AssertionError("the fast path must not check parity or decode")

    monkeypatch.setattr(shamir._Holders, "consistent", refuse)
    monkeypatch.setattr(shamir._Holders, "decode", refuse)
    calls: list[int] = []
    assert recover(shares, 5, verify=_checker(secrets, calls)).secrets == secrets
    assert calls == [0, 1, 2]


def test_verify_rejecting_the_fast_path_decodes_that_secret_only(monkeypatch) -> None:
    secrets = [b"\x01" * 32, b"\x02" * 32]
    shares = split(secrets, [1, 2, 3, 4, 5], 3)
    received = _with_deltas(shares, {0: [0, 9]})  # holder 1 lies about secret 1 only
    decoded: list[int] = []
    decode = shamir._Holders.decode

    def counting(self, ys):
        decoded.append(len(ys))
        return decode(self, ys)

    monkeypatch.setattr(shamir._Holders, "decode", counting)
    calls: list[int] = []
    result = recover(received, 3, verify=_checker(secrets, calls))
    assert result == Recovered(secrets=secrets, bad=frozenset({1}))
    assert calls == [0, 1, 1] and len(decoded) == 1


def test_verify_that_rejects_everything_is_never_overruled() -> None:
    shares = split([b"\x05" * 32], [1, 2, 3, 4, 5, 6], 2)
    with pytest.raises(CorruptSharesError) as info:
        recover(shares, 2, verify=lambda k, s: False)
    assert info.value.bad == frozenset()


def test_error_names_the_holders_found_wrong_for_other_secrets() -> None:
    secrets = [b"\x01" * 32, b"\x02" * 32]
    shares = split(secrets, [1, 2, 3, 4, 5], 3)  # e = 1
    state = random.Random(7)
    # Secret 0: holder 2 is wrong (correctable). Secret 1: holders 3, 4, 5 are wrong.
    deltas = {1: [4, 0], **{i: [0, state.randrange(1, PRIME)] for i in (2, 3, 4)}}
    with pytest.raises(CorruptSharesError) as info:
        recover(_with_deltas(shares, deltas), 3)
    assert info.value.bad == frozenset({2})


@pytest.mark.parametrize("m", [3, 5])
def test_value_outside_32_bytes_is_refused(m: int) -> None:
    # Consistent shares of a polynomial whose constant is not a 32-byte secret.
    shares = _on_polynomial([[2**256 + 5, 7, 9]], list(range(1, m + 1)))
    with pytest.raises(CorruptSharesError):
        recover(shares, 3)
    with pytest.raises(CorruptSharesError):
        recover(shares, 3, verify=lambda k, s: True)


def test_malformed_batches_are_caller_errors_not_corruption() -> None:
    shares = split([b"\x01" * 32, b"\x02" * 32], [1, 2, 3, 4], 2)
    short = Share(x=4, ys=shares[3].ys[:1])  # beyond the first t: still checked
    cases = [
        [shares[0], shares[1], shares[2], short],
        [*shares[:3], Share(x=4, ys=(PRIME, 0))],
        [*shares[:3], Share(x=PRIME, ys=shares[3].ys)],
        [shares[0], shares[0], shares[1]],
    ]
    for received in cases:
        with pytest.raises(ShamirError) as info:
            recover(received, 2)
        assert not isinstance(info.value, CorruptSharesError)
    with pytest.raises(ShamirError):
        recover(shares, 0)
    with pytest.raises(InsufficientSharesError):
        recover(shares[:1], 2, verify=lambda k, s: True)


def test_recovered_repr_hides_secrets() -> None:
    secret = b"\xab" * 32
    result = recover(split([secret], [1, 2, 3], 2), 2)
    assert secret.hex() not in repr(result) and str(list(secret)) not in repr(result)


def test_lagrange_at_zero_interpolates() -> None:
    xs = [2, 9, 17, 40]
    coeffs = [123, 4, 5, 6]
    ys = [sum(c * x**d for d, c in enumerate(coeffs)) % PRIME for x in xs]
    lam = lagrange_at_zero(xs)
    assert sum(a * y for a, y in zip(lam, ys, strict=True)) % PRIME == 123
