"""RoundSpec: a known-answer encoding, strict decoding, unsafe parameters refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("flwr")

from secagg.errors import ConfigurationError, DecodeError, ThresholdError  # noqa: E402
from secagg.flower.spec import SPEC_BYTES, RoundSpec  # noqa: E402
from secagg.masking import MaskingConfig  # noqa: E402
from secagg.paillier import PaillierConfig  # noqa: E402
from secagg.plain import PlainConfig  # noqa: E402
from secagg.quantize import QuantizationConfig  # noqa: E402
from secagg.result import Backend  # noqa: E402

QUANT = QuantizationConfig(clip=0.5, bits=16, max_clients=10, max_weight=100)
SPEC = RoundSpec(Backend.SECAGG_PLUS, 7, 3, 10, 25, QUANT, 6, 4)

# "SF" | v1 | backend 2 (secagg+) | round 7 | client 3 | 10 clients | dim 25
# | clip 0.5 (IEEE double) | b 16 | n_max 10 | w_max 100 | k 26 (10 * 100 * 65535 < 2^26)
# | 6 neighbours | t 4 | 2048 key bits | min uploads 0 (the default)
KNOWN = bytes.fromhex(
    "5346" "01" "02" "00000007" "00000003" "0000000a" "00000019"
    "3fe0000000000000" "10" "0000000a" "0000000000000064" "1a"
    "00000006" "00000004" "00000800" "00000000"
)  # fmt: skip


def test_known_answer() -> None:
    assert SPEC.encode() == KNOWN
    assert len(KNOWN) == SPEC_BYTES
    assert RoundSpec.decode(KNOWN) == SPEC


def test_each_backend_builds_its_config() -> None:
    kinds = {
        Backend.SECAGG: MaskingConfig,
        Backend.SECAGG_PLUS: MaskingConfig,
        Backend.PAILLIER: PaillierConfig,
        Backend.PLAIN: PlainConfig,
    }
    for backend, kind in kinds.items():
        spec = RoundSpec(backend, 1, 1, 10, 25, QUANT)
        assert isinstance(spec.config(), kind)
        assert RoundSpec.decode(spec.encode()) == spec


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda b: b[:-1], DecodeError),
        (lambda b: b + b"\x00", DecodeError),
        (lambda b: b"SX" + b[2:], DecodeError),
        (lambda b: b[:2] + b"\x02" + b[3:], DecodeError),  # version 2
        (lambda b: b[:3] + b"\x09" + b[4:], DecodeError),  # no backend 9
        (lambda b: b[:8] + (11).to_bytes(4, "big") + b[12:], ConfigurationError),  # client 11 of 10
        (lambda b: b[:20] + b"\x7f\xf8" + b[22:], ConfigurationError),  # clip NaN
    ],
)
def test_malformed_specs_are_refused(mutate, error) -> None:  # noqa: ANN001
    with pytest.raises(error):
        RoundSpec.decode(mutate(KNOWN))


def test_an_unsafe_threshold_is_refused_by_the_node() -> None:
    # t = 3 of 6 neighbours is not a majority: a node builds no config from it.
    spec = RoundSpec(Backend.SECAGG_PLUS, 7, 3, 10, 25, QUANT, 6, 3)
    with pytest.raises(ThresholdError):
        RoundSpec.decode(spec.encode()).config()


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=SPEC_BYTES + 4))
def test_junk_never_escapes_as_anything_but_our_errors(data: bytes) -> None:
    try:
        RoundSpec.decode(data).config()
    except (DecodeError, ConfigurationError):
        pass
