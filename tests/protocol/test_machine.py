"""The one state-machine idiom: a transition table, a read-only stage, abort through the
table, and a refusal that aborts for good."""

from __future__ import annotations

import enum
from typing import ClassVar

import pytest

from secagg.errors import InputError, StageError
from secagg.masking import ClientStage, MaskingClient
from secagg.masking.server import MaskingServer, ServerStage
from secagg.paillier import KeyHolder, PaillierClient, PaillierServer
from secagg.plain import PlainClient, PlainServer
from secagg.protocol.machine import Machine, transitions


class Stage(enum.Enum):
    A = 1
    B = 2
    C = 3
    ABORTED = 4


class Toy(Machine[Stage]):
    _TRANSITIONS: ClassVar = transitions([Stage.A, Stage.B, Stage.C], Stage.ABORTED)
    _ABORTED: ClassVar = Stage.ABORTED

    def step(self, fail: bool = False) -> None:
        with self._refusing():
            self._require(Stage.A, Stage.B)
            if fail:
                raise InputError("refused")
            self._advance(Stage.B if self.stage is Stage.A else Stage.C, {"secret": 1})


def test_transitions_follow_the_table() -> None:
    toy = Toy(Stage.A, None)
    toy.step()
    assert toy.stage is Stage.B and toy._record(dict) == {"secret": 1}
    toy.step()
    assert toy.stage is Stage.C
    with pytest.raises(StageError):
        toy.step()
    assert toy.stage is Stage.C  # a finished party stays finished
    toy.abort()
    assert toy.stage is Stage.C
    with pytest.raises(StageError):
        toy._advance(Stage.A)


def test_stage_is_read_only() -> None:
    toy = Toy(Stage.A, None)
    with pytest.raises(AttributeError):
        toy.stage = Stage.C  # type: ignore[misc]


def test_a_refusal_aborts_and_forgets_the_record() -> None:
    toy = Toy(Stage.A, None)
    toy.step()
    with pytest.raises(InputError):
        toy.step(fail=True)
    assert toy.stage is Stage.ABORTED
    with pytest.raises(StageError):
        toy._record(dict)  # the secrets went with the record
    with pytest.raises(StageError):
        toy.step()


@pytest.mark.parametrize(
    "cls",
    [
        MaskingClient,
        MaskingServer,
        PaillierClient,
        PaillierServer,
        KeyHolder,
        PlainClient,
        PlainServer,
    ],
)
def test_every_party_uses_the_idiom(cls: type) -> None:
    assert issubclass(cls, Machine)
    table = cls._TRANSITIONS
    aborted = cls._ABORTED
    # Every stage that can move on can also abort; terminal stages go nowhere.
    for stage, targets in table.items():
        assert aborted in targets, (cls.__name__, stage)
    assert aborted not in table


def test_server_stages_are_linear_but_for_the_optional_consistency_round() -> None:
    order = list(ServerStage)
    table = MaskingServer._TRANSITIONS
    for stage, nxt in zip(order[:5], order[1:6], strict=True):
        assert nxt in table[stage] and ServerStage.ABORTED in table[stage]
    # the honest mode skips the signatures: the one extra edge
    assert table[ServerStage.COLLECTING_INPUTS] == {
        ServerStage.COLLECTING_SIGNATURES,
        ServerStage.COLLECTING_UNMASKING,
        ServerStage.ABORTED,
    }
    assert ClientStage.ABORTED not in MaskingClient._TRANSITIONS
