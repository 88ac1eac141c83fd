"""GPAW (plane-wave / LCAO PAW DFT) as the oracle, with an SCF retry ladder.

The method (keywords from the presets, calculator, checks) is
:mod:`alearn.methods.gpaw`. Every label starts a fresh calculator whose text
output is captured and returned as ``Label.log_text``. The energy is GPAW's
free energy; the stress (eV/Å³, Voigt order) is returned for 3D-periodic
cells in PW mode only: new GPAW (26.7) has no LCAO/FD stress.

SCF retry ladder
----------------
When the SCF does not converge (GPAW raises ``gpaw.KohnShamConvergenceError``,
a subclass of ``gpaw.ConvergenceError``), the label is retried from scratch
with the next rung. Rungs are *cumulative* (each keeps the changes of the
ones before) and a rung that would change nothing is skipped:

1. ``more_iterations``: ``maxiter`` doubled (150 → 300 with the presets):
   slow but monotonic SCFs only need time.
2. ``damped_mixing``: Pulay density mixing with ``beta=0.02, nmaxold=5,
   weight=100`` (GPAW's ``Mixer(0.02, 5, 100)``, the advice of its
   convergence page): smaller steps stop charge sloshing. New GPAW mixes all
   spin components in one history, so the same mixer serves spin-polarized
   runs (the role ``MixerSum`` had in old GPAW).
3. ``smearing``: Fermi–Dirac occupations of width 0.1 eV, unless already that
   wide: fractional occupations stop level-crossing oscillations. This can
   change the label (by −TS) for a frame without a gap; the attempt record
   says so.
4. ``eigensolver`` (PW/FD): Davidson with 5 inner iterations per SCF step
   (GPAW's advice: solve the eigenproblem more accurately each step; a run
   already on that gets RMM-DIIS). ``'cg'`` and ETDM-LCAO exist only in legacy
   GPAW, whose numbers differ (3 meV for H2O with ETDM-LCAO), so the ladder
   never leaves new GPAW. ``msr1_mixing`` (LCAO): LCAO diagonalizes exactly
   at every step, so its last rung switches the density mixer to MSR1 with
   ``beta=0.01, nmaxold=10``.

FFTs are planned with FFTW_ESTIMATE (see
:func:`alearn.methods.gpaw.reproducible_fft_plans`), so a rerun of a label
gives the same bits.

The ladder stops at the first success. Every attempt is recorded in
``Label.attempts`` (rung, changed keywords, converged or not, SCF iterations,
wall time; the first also holds the full keywords). When all fail,
:class:`alearn.errors.LabelFailed` carries the attempts and the logs. Any other
exception fails the label at once (LabelFailed naming the exception).
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ase import Atoms

from alearn.config import GPAWSettings
from alearn.errors import LabelFailed
from alearn.methods import provenance
from alearn.methods.gpaw import (
    GPAWCalculator,
    check_atoms,
    mode_name,
    reproducible_fft_plans,
)
from alearn.methods.gpaw_presets import gpaw_parameters, stress_supported
from alearn.oracles.base import Label, label_with_calculator

log = logging.getLogger(__name__)

__all__ = ["LADDER", "GPAWOracle", "Rung", "retry_plan"]


# --------------------------------------------------------------------------- ladder
@dataclass(frozen=True)
class Rung:
    """One step of the SCF retry ladder.

    Attributes
    ----------
    name
        Short id stored in the attempt record.
    change
        Maps the current GPAW keywords to the keywords to replace, or None when
        the rung would change nothing (then it is skipped).
    """

    name: str
    change: Callable[[dict[str, Any]], dict[str, Any] | None]


DAMPED_MIXER = {"name": "pulay", "beta": 0.02, "nmaxold": 5, "weight": 100.0}
MSR1_MIXER = {"name": "msr1", "beta": 0.01, "nmaxold": 10, "weight": 100.0}
RETRY_SMEARING_EV = 0.1
ACCURATE_DAVIDSON = {"name": "davidson", "niter": 5}


def _more_iterations(params: dict[str, Any]) -> dict[str, Any]:
    return {"maxiter": 2 * int(params.get("maxiter") or 333)}


def _damped_mixing(params: dict[str, Any]) -> dict[str, Any] | None:
    return None if params.get("mixer") == DAMPED_MIXER else {"mixer": dict(DAMPED_MIXER)}


def _smearing(params: dict[str, Any]) -> dict[str, Any] | None:
    occ = params.get("occupations") or {}
    if occ.get("name", "fermi-dirac") == "fermi-dirac" and occ.get("width", 0.0) >= \
            RETRY_SMEARING_EV:
        return None
    return {"occupations": {"name": "fermi-dirac", "width": RETRY_SMEARING_EV}}


def _eigensolver(params: dict[str, Any]) -> dict[str, Any] | None:
    if mode_name(params) == "lcao":
        return None if params.get("mixer") == MSR1_MIXER else {"mixer": dict(MSR1_MIXER)}
    if params.get("eigensolver") == ACCURATE_DAVIDSON:
        return {"eigensolver": {"name": "rmm-diis", "niter": 3}}
    return {"eigensolver": dict(ACCURATE_DAVIDSON)}


LADDER: tuple[Rung, ...] = (
    Rung("more_iterations", _more_iterations),
    Rung("damped_mixing", _damped_mixing),
    Rung("smearing", _smearing),
    Rung("eigensolver", _eigensolver),
)


def retry_plan(params: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """The attempts the ladder makes for ``params``, in order.

    Returns
    -------
    list of (rung name, changed keywords, full keywords)
        The first entry is the initial attempt (``"initial"``, no change).
    """
    plan: list[tuple[str, dict[str, Any], dict[str, Any]]] = [("initial", {}, params)]
    current = params
    for rung in LADDER:
        changes = rung.change(current)
        if changes is None:
            continue
        name = "msr1_mixing" if rung.name == "eigensolver" and mode_name(current) == "lcao" \
            else rung.name
        current = {**current, **changes}
        plan.append((name, changes, current))
    return plan


# --------------------------------------------------------------------------- labeling
def _iterations(text: str) -> int | None:
    n = sum(1 for line in text.splitlines() if line.startswith("iter:")
            or line.startswith("|iter:"))
    return n or None


@dataclass
class _Attempt:
    record: dict[str, Any]
    log_text: str
    label: Label | None = None
    scf_failed: bool = False


class GPAWOracle:
    """GPAW DFT with presets and an SCF retry ladder (see the module docstring).

    Parameters
    ----------
    settings
        GPAW settings (preset + overrides).
    communicator
        MPI communicator for GPAW (default: GPAW's world, i.e. all ranks of
        the process started by ``mpirun``); pass a sub-communicator when
        labels run in groups of ranks inline.
    """

    name = "gpaw"

    def __init__(self, settings: GPAWSettings | None = None, *, communicator=None) -> None:
        self._settings = settings or GPAWSettings()
        self._communicator = communicator
        reproducible_fft_plans()  # for every GPAW calculation of this process

    # -- Oracle protocol ---------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """Resolved settings plus the GPAW and PAW-dataset versions."""
        return provenance("gpaw", self._settings)

    def check(self, atoms: Atoms, where: str) -> None:
        """Raise ConfigError naming ``where`` if GPAW cannot label ``atoms``
        (:func:`alearn.methods.gpaw.check_atoms`; messages name ``gpaw.*`` keys)."""
        check_atoms(atoms, where, self._settings)

    def label(self, atoms: Atoms) -> Label:
        """Energy (eV), forces (eV/Å) and, for 3D-periodic PW cells, stress (eV/Å³).

        Raises
        ------
        LabelFailed
            When every rung of the retry ladder fails to converge, or on any
            other GPAW error; with the attempts and GPAW's text output.
        """
        params = gpaw_parameters(self._settings, atoms)
        overrides: dict[str, Any] = {}
        attempts: list[dict[str, Any]] = []
        logs: list[str] = []
        for number, (rung, changes, current) in enumerate(retry_plan(params), start=1):
            overrides.update(changes)
            attempt = self._attempt(atoms, overrides, mode_name(current), number, rung, changes)
            if number == 1:
                attempt.record["parameters"] = params
            attempts.append(attempt.record)
            logs.append(attempt.log_text)
            if attempt.label is not None:
                attempt.label.attempts = attempts
                attempt.label.log_text = "\n".join(logs)
                return attempt.label
            if not attempt.scf_failed:
                raise LabelFailed(f"GPAW failed on attempt {number} ({rung}): "
                                  f"{attempt.record['error']}",
                                  attempts=attempts, log_text="\n".join(logs))
            log.info("SCF not converged (attempt %d, %s); retrying", number, rung)
        tried = ", ".join(a["rung"] for a in attempts)
        raise LabelFailed(f"SCF not converged after {len(attempts)} attempts ({tried})",
                          attempts=attempts, log_text="\n".join(logs))

    # -- internals ----------------------------------------------------------------
    def _attempt(self, atoms: Atoms, overrides: dict[str, Any], mode: str, number: int,
                 rung: str, changes: dict[str, Any]) -> _Attempt:
        from gpaw import ConvergenceError

        buf = io.StringIO()
        record: dict[str, Any] = {"attempt": number, "rung": rung, "changed": changes}
        t0 = time.perf_counter()
        label = None
        scf_failed = False
        try:
            calc = GPAWCalculator(self._settings, overrides=overrides, txt=buf,
                                  communicator=self._communicator)
            label = label_with_calculator(atoms, calc,
                                          stress=bool(atoms.pbc.all()) and stress_supported(mode))
        except ConvergenceError as err:
            scf_failed = True
            record["error"] = f"{type(err).__name__}: {err}".rstrip(": ")
        except Exception as err:  # noqa: BLE001 - any GPAW failure becomes a failed label
            record["error"] = f"{type(err).__name__}: {err}"
        text = buf.getvalue()
        record.update(ok=label is not None, iterations=_iterations(text),
                      wall_s=round(time.perf_counter() - t0, 3))
        header = f"==== attempt {number} ({rung}) changed={changes} ok={label is not None} ====\n"
        return _Attempt(record=record, log_text=header + text, label=label, scf_failed=scf_failed)
