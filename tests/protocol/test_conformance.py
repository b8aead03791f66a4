"""One conformance class, run against every backend: plain, SecAgg, SecAgg+, Paillier.

Each backend's parties are driven only through the transport interface
(``start``/``handle`` on clients, ``receive``/``waiting``/``close`` on the server), the
way any transport would: exact sums, a dropout at every stage, aborts below the
backend's minimum that send nothing revealing, refusals that abort a client, messages
in another's name, and save/restore between every two messages.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secagg.codec import peek_header
from secagg.errors import (
    AbortError,
    DecodeError,
    SecAggError,
    SenderMismatchError,
    StageError,
    UnknownClientError,
)
from secagg.masking import Graph
from secagg.paillier import PrivateKey
from secagg.protocol import ClientParty, RestoreGuard
from secagg.protocol.identity import Security
from secagg.result import DropStage

from . import backends
from .backends import Backend, expected_sum, inputs_for

N = 7
_STAGE_ORDER = list(DropStage)


class Recorder:
    """A transport: drives one round, records every message, and can save and restore
    each client between any two messages (through bytes, as across processes)."""

    def __init__(self, backend: Backend, n: int = N, *, seed: int = 0) -> None:
        self.backend = backend
        self.config = backend.config(n)
        self.inputs = inputs_for(self.config, seed)
        self.entropies = backends.entropies(self.config)
        self.server = backend.server(self.config)
        self.clients: dict[int, ClientParty] = {
            c: backend.client(self.config, c, self.inputs[c], self.entropies[c])
            for c in self.inputs
        }
        self.messages: list[tuple[int, int, bytes]] = []  # (sender, recipient, bytes)
        self.guard = RestoreGuard()

    def _cycle(self, c: int) -> None:
        blob = self.clients[c].save()
        self.clients[c] = self.backend.restore(blob, self.config, self.entropies[c])

    def run(
        self, dropouts: Mapping[int, int] | None = None, *, restore: bool = False
    ) -> np.ndarray:
        """``dropouts``: client -> the number of messages it sends before vanishing."""
        budget = dict(dropouts or {})
        sent: dict[int, int] = {c: 0 for c in self.clients}

        def may_send(c: int) -> bool:
            return c not in budget or sent[c] < budget[c]

        def reply(c: int, data: bytes | None) -> None:
            if data is None:
                return
            sent[c] += 1
            self.messages.append((c, 0, data))
            self.server.receive(c, data)

        for c, client in self.clients.items():
            if restore:
                self._cycle(c)
            if may_send(c):
                reply(c, self.clients[c].start())
        while not self.server.finished:
            outbox = self.server.close()
            for c, data in outbox.items():
                self.messages.append((0, c, data))
                if not may_send(c):
                    continue
                if restore:
                    self._cycle(c)
                reply(c, self.clients[c].handle(data))
        return self.server.result.aggregate


class Conformance:
    """Properties every backend must have. Subclasses set ``backend``."""

    backend: Backend

    def test_exact_sum(self) -> None:
        r = Recorder(self.backend)
        assert np.array_equal(r.run(), expected_sum(r.inputs, r.inputs))
        assert r.server.result.survivors == tuple(r.inputs)

    @pytest.mark.parametrize("sent", [0, 1, 2, 3])
    def test_a_dropout_after_each_message(self, sent: int) -> None:
        r = Recorder(self.backend)
        client = 2  # never the Paillier key holder
        aggregate = r.run({client: sent})
        survivors = r.server.result.survivors
        uploaded = client in survivors
        assert np.array_equal(aggregate, expected_sum(r.inputs, survivors))
        assert set(survivors) == set(r.inputs) - ({client} if not uploaded else set())

    def test_fewest_survivors_accepted_and_one_fewer_aborts_revealing_nothing(self) -> None:
        config = self.backend.config(N)
        minimum = self.backend.minimum(config)
        keep = list(range(1, minimum + 1))
        # The others vanish just before sending their input.
        gone = {c: self.backend.before_upload for c in range(minimum + 1, N + 1)}
        r = Recorder(self.backend)
        aggregate = r.run(gone)
        assert np.array_equal(aggregate, expected_sum(r.inputs, keep))
        r = Recorder(self.backend)
        gone[minimum] = gone[N]
        with pytest.raises(AbortError):
            r.run(gone)
        kinds = {peek_header(data).type for _, _, data in r.messages}
        assert not kinds & set(self.backend.secret_messages)

    def test_a_refused_message_aborts_the_client_for_good(self) -> None:
        r = Recorder(self.backend)
        client = r.clients[3]
        with pytest.raises(SecAggError):
            client.handle(b"SA\x03\x07" + bytes(44))
        assert client.stage.name == "ABORTED"
        with pytest.raises(SecAggError):
            client.start()

    def test_a_message_in_another_clients_name_is_refused(self) -> None:
        r = Recorder(self.backend)
        first = {c: r.clients[c].start() for c in r.clients}
        speaker = next(c for c, m in first.items() if m is not None)
        with pytest.raises(SenderMismatchError):
            r.server.receive(speaker % N + 1, first[speaker])

    def test_garbage_is_refused_and_changes_nothing_accepted(self) -> None:
        r = Recorder(self.backend)
        aggregate = None
        for c, client in r.clients.items():
            message = client.start()
            if message is not None:
                r.server.receive(c, message)
        with pytest.raises(DecodeError):
            r.server.receive(2, b"\x00" * 10)  # client 2 is dropped, its input kept
        with pytest.raises(UnknownClientError):
            r.server.receive(2, b"\x00" * 10)  # and it has no second try
        while not r.server.finished:
            for c, data in r.server.close().items():
                reply = r.clients[c].handle(data)
                if reply is not None and c != 2:
                    r.server.receive(c, reply)
        result = r.server.result
        assert np.array_equal(result.aggregate, expected_sum(r.inputs, result.survivors))
        first_is_upload = self.backend.before_upload == 0 and self.backend.name == "plain"
        assert (2 in result.survivors) == first_is_upload

    def test_nothing_after_the_end(self) -> None:
        r = Recorder(self.backend)
        r.run()
        with pytest.raises(StageError):
            r.server.close()
        assert not r.server.waiting().pending and r.server.finished

    # One method, run by each backend's subclass: the differing executors are intended.
    @settings(
        max_examples=4,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
    )
    @given(seed=st.integers(0, 2**16), drop=st.integers(0, 3))
    def test_save_and_restore_between_every_message_changes_nothing(self, seed, drop) -> None:
        # Property: every client saved to bytes and restored (as in a fresh process)
        # between all stages gives the same round, message for message, as none saved.
        plain_run, cycled_run = Recorder(self.backend, seed=seed), Recorder(self.backend, seed=seed)
        a = plain_run.run({2: drop})
        b = cycled_run.run({2: drop}, restore=True)
        assert np.array_equal(a, b)
        assert plain_run.server.result.survivors == cycled_run.server.result.survivors
        assert [m for m in plain_run.messages] == [m for m in cycled_run.messages]


class TestPlain(Conformance):
    backend = backends.plain()


class TestSecAgg(Conformance):
    backend = backends.masking(Graph.COMPLETE)


class TestSecAggPlus(Conformance):
    backend = backends.masking(Graph.HARARY)


@functools.cache
def _paillier_key() -> PrivateKey:  # the session fixture is not reachable from a property
    from secagg.paillier import generate_keypair

    return generate_keypair(2048)


class TestPaillier(Conformance):
    @property  # type: ignore[override]
    def backend(self) -> Backend:
        return backends.paillier(_paillier_key())


# The same properties hold in the malicious-server mode (identities, signatures, the
# consistency round): dropouts at every stage, aborts, refusals, save and restore.


class TestSecAggMalicious(Conformance):
    backend = backends.masking(Graph.COMPLETE, Security.MALICIOUS)


class TestSecAggPlusMalicious(Conformance):
    backend = backends.masking(Graph.HARARY, Security.MALICIOUS)


class TestPaillierMalicious(Conformance):
    @property  # type: ignore[override]
    def backend(self) -> Backend:
        return backends.paillier(_paillier_key(), Security.MALICIOUS)
