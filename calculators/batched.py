"""Many walkers, one forward pass: a committee shared by MD runs stepped together.

Small structures (a campaign's walkers, the λ-windows of a thermodynamic
integration, screening candidates) use a fraction of the hardware each; one
forward pass over all of them, as one graph, costs little more than one.
:class:`BatchedCommittee` gives each MD run its own ASE calculator
(:class:`BatchClient`, a :class:`CommitteeCalculator` in every respect) and
collects their requests: when every open client is waiting, the structures
are evaluated together and each client gets its own results (a structure that
cannot be evaluated fails its own client only). Each run keeps
its own ASE integrator and random stream, in a thread of its own, so the
dynamics and statistics are those of the same runs one after another (the
forces agree to floating-point rounding).

Usage::

    hub = BatchedCommittee(committee)            # a CommitteeCalculator
    clients = [hub.client() for _ in runs]       # open all clients first
    # run each MD in a thread with its client; client.close() when it ends
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from ase import Atoms

from alearn.calculators.committee import CommitteeCalculator
from alearn.calculators.members import MemberOutputs


class BatchAborted(BaseException):  # noqa: N818 - not an error of the run: it is being stopped
    """Raised in every client once :meth:`BatchedCommittee.abort` is called (a
    ``BaseException``, so an MD loop that records its own failures lets it through)."""


@dataclass
class _Request:
    atoms: Atoms
    members: tuple[int, ...]
    stress: bool
    result: MemberOutputs | None = None
    error: BaseException | None = None


class BatchedCommittee:
    """Evaluates the structures of several clients together.

    Parameters
    ----------
    committee
        The committee whose members (and calibration, drive and driver) the
        clients share; its :class:`CommitteeModels` (compiled or not) are used
        as they are.
    """

    def __init__(self, committee: CommitteeCalculator) -> None:
        self.committee = committee
        self.members = committee.members
        self._builder = committee.members.graph_builder()
        self._cond = threading.Condition()
        self._open = 0
        self._pending: list[_Request] = []
        self._aborted = False
        self.n_batches = 0

    def client(self) -> BatchClient:
        """A new calculator for one MD run; open every client before any of them runs."""
        with self._cond:
            self._open += 1
        c = self.committee
        return BatchClient(self, calibration=c.calibration, drive=c.drive, driver=c.driver)

    def evaluate(self, atoms: Atoms, members: Sequence[int], stress: bool) -> MemberOutputs:
        """``members``' outputs for ``atoms`` (one graph), once every open client waits."""
        request = _Request(atoms.copy(), tuple(members), stress)
        with self._cond:
            if self._aborted:
                raise BatchAborted("the batch was aborted")
            self._pending.append(request)
            self._run_if_all_wait()
            while request.result is None and request.error is None:
                self._cond.wait()
        if request.error is not None:
            raise request.error
        return request.result  # type: ignore[return-value]

    def abort(self) -> None:
        """Stop every client: waiting and later requests raise :class:`BatchAborted`."""
        with self._cond:
            self._aborted = True
            for request in self._pending:
                request.error = BatchAborted("the batch was aborted")
            self._pending = []
            self._cond.notify_all()

    def close(self) -> None:
        """One client is done: the others no longer wait for it."""
        with self._cond:
            self._open -= 1
            self._run_if_all_wait()

    # ------------------------------------------------------------------ internals
    def _run_if_all_wait(self) -> None:
        if not self._pending or len(self._pending) < self._open:
            return
        pending, self._pending = self._pending, []
        for group in _groups(pending):
            try:
                self._evaluate_group(group)
            except Exception:  # noqa: BLE001 - find whose structure fails: one at a time
                for request in group:
                    try:
                        self._evaluate_group([request])
                    except Exception as err:  # noqa: BLE001 - raised in that client's thread
                        request.error = err
        self.n_batches += 1
        self._cond.notify_all()

    def _evaluate_group(self, group: list[_Request]) -> None:
        """One forward pass per member over the structures of ``group`` (same members)."""
        if self._builder.pad != self.members.compiled:  # compilation failed: unpadded now
            self._builder = self.members.graph_builder()
        inputs = self._builder.build([r.atoms for r in group])
        out = self.members.evaluate(inputs, group[0].members, stress=group[0].stress)
        ptr = inputs.ptr
        for g, request in enumerate(group):
            atoms = slice(ptr[g], ptr[g + 1])
            request.result = MemberOutputs(
                energies=out.energies[:, g:g + 1], forces=out.forces[:, atoms],
                stress=None if out.stress is None else out.stress[:, g:g + 1])


def _groups(requests: list[_Request]) -> list[list[_Request]]:
    """Requests for the same members (and stress or not), in order of first appearance."""
    groups: dict[tuple, list[_Request]] = {}
    for r in requests:
        groups.setdefault((r.members, r.stress), []).append(r)
    return list(groups.values())


class BatchClient(CommitteeCalculator):
    """A :class:`CommitteeCalculator` whose members are evaluated by a
    :class:`BatchedCommittee`, together with the other clients' structures.

    Call :meth:`close` when its MD run ends (also when it fails), or the other
    clients wait for it forever.
    """

    def __init__(self, hub: BatchedCommittee, **kwargs) -> None:
        super().__init__(models=hub.members, **kwargs)
        self.hub = hub
        self.closed = False

    def _evaluate(self, members: list[int], stress: bool) -> MemberOutputs:
        if self.closed:
            raise RuntimeError("this BatchClient was closed; its MD run has ended")
        return self.hub.evaluate(self.atoms, members, stress)

    def close(self) -> None:
        """Leave the batch (once)."""
        if not self.closed:
            self.closed = True
            self.hub.close()
