"""Advertised X25519 keys are checked when they arrive, as keys (not bytes).

The server drops a client whose AdvertiseKeys holds a low-order, all-zero or copied key
and goes on with the others (one bad client must not veto a round). A client that is
sent such a key list refuses it and aborts: it derives nothing from it, and cannot be
handed a second list.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from secagg.errors import StageError, WeakKeyError
from secagg.masking import AdvertiseKeys, ClientStage, KeyBroadcast
from secagg.primitives.keyagreement import CURVE25519_P, KeyPair

ZERO = bytes(32)
ONE = (1).to_bytes(32, "little")
P_ENCODED = CURVE25519_P.to_bytes(32, "little")  # non-canonical 0


def _with_bit_255(key: bytes) -> bytes:
    return key[:-1] + bytes([key[-1] | 0x80])


@pytest.mark.parametrize(
    "mutate",
    [
        lambda m, r: replace(m, encryption_key=ZERO),
        lambda m, r: replace(m, masking_key=ONE),
        lambda m, r: replace(m, masking_key=P_ENCODED),
        lambda m, r: replace(m, masking_key=_with_bit_255(ZERO)),
        lambda m, r: replace(m, masking_key=m.encryption_key),
        lambda m, r: replace(m, masking_key=_with_bit_255(m.encryption_key)),
        lambda m, r: replace(
            m, masking_key=_with_bit_255(AdvertiseKeys.decode(r.sent_first, r.config).masking_key)
        ),
    ],
    ids=["zero", "one", "p", "zero-bit255", "same-twice", "same-bit255", "copy-of-client-1"],
)
def test_server_drops_a_client_with_a_weak_or_copied_key_and_goes_on(make_round, mutate) -> None:
    r = make_round()
    clients = r.alive()
    for c in clients:
        message = r.clients[c].advertise_keys()
        if c == 1:
            r.sent_first = message.encode()
        if c == 4:
            with pytest.raises(WeakKeyError):
                r.server.receive(c, mutate(message, r).encode())
        else:
            r.server.receive(c, message.encode())
    assert 4 in r.server.dropped
    broadcasts = {c: KeyBroadcast.decode(d, r.config) for c, d in r.server.close().items()}
    assert 4 not in broadcasts
    r.gone.add(4)
    outcome = r.unmask(r.upload(r.share(broadcasts)))
    assert np.array_equal(outcome.aggregate, r.expected_sum(set(clients) - {4}))


def _list_with(r, broadcast: KeyBroadcast, owner: int, key_index: int, key: bytes) -> KeyBroadcast:
    keys = [list(entry) for entry in broadcast.keys]
    row = next(k for k in keys if k[0] == owner)
    row[1 + key_index] = key
    return replace(broadcast, keys=tuple(tuple(k) for k in keys))


@pytest.mark.parametrize("key_index", [0, 1])
@pytest.mark.parametrize("bad", [ZERO, ONE, P_ENCODED, "copy"])
def test_client_refuses_a_key_list_with_a_weak_or_repeated_key_and_aborts(
    make_round, key_index, bad
) -> None:
    r = make_round()
    broadcasts = r.advertise()
    honest = broadcasts[1]
    if bad == "copy":  # client 3's key repeated under client 2, with bit 255 set
        bad = _with_bit_255(honest.keys[2][1 + key_index])
    forged = _list_with(r, honest, 2, key_index, bad)
    with pytest.raises(WeakKeyError):
        r.clients[1].share_keys(forged)
    assert r.clients[1].stage is ClientStage.ABORTED
    # Nothing was kept from the refused list, and no second list is taken.
    with pytest.raises(StageError):
        r.clients[1].share_keys(honest)


def test_client_checks_every_key_before_deriving_anything(make_round, monkeypatch) -> None:
    # The defect: per-peer keys derived for a refused list outlived the refusal. Now the
    # list is checked whole before any agreement: a weak key anywhere means no exchange.
    r = make_round()
    honest = r.advertise()[1]
    calls = []
    original = KeyPair.agree

    def counting(self, peer):  # noqa: ANN001
        calls.append(peer)
        return original(self, peer)

    monkeypatch.setattr(KeyPair, "agree", counting)
    with pytest.raises(WeakKeyError):
        r.clients[1].share_keys(_list_with(r, honest, 7, 1, ZERO))
    assert calls == []
