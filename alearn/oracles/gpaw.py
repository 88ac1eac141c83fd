"""GPAW (plane-wave / LCAO PAW DFT) as the oracle, with an SCF retry ladder.

The GPAW keywords come from :func:`alearn.calculators.gpaw_presets.gpaw_parameters`
(a preset, overridden by the user's settings). Every label starts a fresh
calculator whose text output is captured and returned as ``Label.log_text``.

Energies and forces
-------------------
The energy is GPAW's *free* energy (``force_consistent=True``), the quantity
whose negative gradient the forces are; with integer occupations it equals
the total energy. Forces ignore the structure's constraints. The stress
(eV/Å³, Voigt order) is returned for 3D-periodic cells in PW mode only: new
GPAW (26.7) has no LCAO/FD stress.

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

FFTs are planned with FFTW_ESTIMATE (see :func:`_reproducible_fft_plans`), so a
rerun of a label gives the same bits.

The ladder stops at the first success. Every attempt is recorded in
``Label.attempts`` (rung, changed keywords, converged or not, SCF iterations,
wall time; the first also holds the full keywords). When all fail,
:class:`alearn.errors.LabelFailed` carries the attempts and the logs. Any other
exception fails the label at once (LabelFailed naming the exception).
"""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from glob import glob
from typing import Any

import numpy as np
from ase import Atoms

from alearn.calculators.gpaw_presets import (
    electron_count,
    gpaw_parameters,
    needs_spin,
    resolved_settings,
    stress_supported,
    vacuum_A,
)
from alearn.config import GPAWSettings
from alearn.errors import ConfigError, LabelFailed
from alearn.oracles.base import Label

log = logging.getLogger(__name__)

__all__ = ["LADDER", "GPAWOracle", "Rung", "missing_paw_files", "prepare_atoms",
           "retry_plan"]

_AXES = "xyz"
# setup types that need no file on disk
_FILELESS_SETUPS = {"ae", "ghost", "hgh", "hgh.sc", "sg15"}


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


def _reproducible_fft_plans() -> None:
    """Make GPAW plan its FFTs with FFTW_ESTIMATE instead of FFTW_MEASURE.

    MEASURE picks FFT algorithms by timing them, so two runs on the same
    structure differ in the last bits (5e-13 eV measured on Li+(H2O)3 in LCAO
    mode), and MD on models trained on those labels then diverges. With
    ESTIMATE, reruns give identical labels. GPAW's own test suite sets the
    same class attribute.
    """
    from gpaw.fftw import ESTIMATE, FFTWPlans

    FFTWPlans._overwrite_flags = ESTIMATE


def _mode_name(params: dict[str, Any]) -> str:
    mode = params.get("mode", "pw")
    return str(mode.get("name", "pw") if isinstance(mode, dict) else mode).lower()


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
    if _mode_name(params) == "lcao":
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
        name = "msr1_mixing" if rung.name == "eigensolver" and _mode_name(current) == "lcao" \
            else rung.name
        current = {**current, **changes}
        plan.append((name, changes, current))
    return plan


# --------------------------------------------------------------------------- checks
def _setup_paths() -> list[str]:
    from gpaw import setup_paths

    return [str(p) for p in setup_paths]


def _file_exists(name: str, paths: list[str]) -> bool:
    return any(glob(os.path.join(path, name)) or glob(os.path.join(path, name + ".gz"))
               for path in paths)


def _per_element(value: Any, symbol: str, default: str) -> str:
    if isinstance(value, dict):
        return str(value.get(symbol, value.get("default", default)))
    return default if value is None else str(value)


def missing_paw_files(symbols: set[str], xc: str, *, setups: Any = "paw",
                      basis: Any = None) -> dict[str, str]:
    """Which elements lack a PAW setup (or basis) file for ``xc``.

    Looks where GPAW looks: ``gpaw.setup_paths`` (``GPAW_SETUP_PATH`` first,
    then the ``gpaw-data`` package), for ``{symbol}.{setupname}[.gz]`` and
    ``{symbol}.{basis}.basis[.gz]``, ``setupname`` being the functional's
    setup family (``XC(xc).get_setup_name()``: PBE0 and SCAN use PBE setups).

    Returns
    -------
    dict
        Symbol → name of the missing file; empty when all are there.

    Raises
    ------
    ValueError
        If GPAW does not know the functional ``xc``.
    """
    from gpaw.xc import XC

    setup_name = XC(xc).get_setup_name()
    paths = _setup_paths()
    missing: dict[str, str] = {}
    for symbol in sorted(symbols):
        kind = _per_element(setups, symbol, "paw")
        if kind in _FILELESS_SETUPS:
            continue
        prefix = symbol if kind == "paw" else f"{symbol}.{kind}"
        if not _file_exists(f"{prefix}.{setup_name}", paths):
            missing[symbol] = f"{prefix}.{setup_name}"
            continue
        name = _per_element(basis, symbol, "") if basis is not None else ""
        if name and "(" in name:  # 'sz(dzp)' reads the dzp file
            name = name[name.index("(") + 1:name.rindex(")")]
        if name and not _file_exists(f"{prefix}.{name}.basis", paths):
            missing[symbol] = f"{prefix}.{name}.basis"
    return missing


def _check_cell(atoms: Atoms, where: str) -> None:
    lengths = atoms.cell.lengths()
    for axis in range(3):
        if lengths[axis] > 1e-6:
            continue
        if atoms.pbc[axis]:
            raise ConfigError(
                f"{where}: periodic along {_AXES[axis]} (pbc={atoms.pbc.tolist()}) but the cell "
                f"has no length along it; set the cell (atoms.cell) or make it non-periodic.")
        raise ConfigError(
            f"{where}: no cell along {_AXES[axis]}; GPAW needs a box around the atoms: "
            "use atoms.center(vacuum=...) or set the cell.")
    if abs(atoms.cell.volume) < 1e-6:
        raise ConfigError(f"{where}: the cell vectors are linearly dependent (volume 0).")


def _check_periodicity(atoms: Atoms, where: str, preset: str) -> None:
    pbc = tuple(bool(p) for p in atoms.pbc)
    wanted = {
        "molecule": (pbc == (False, False, False), "pbc=False (an isolated molecule)",
                     "use preset 'electrolyte' or 'bulk' for periodic cells, or set pbc=False"),
        "electrolyte": (all(pbc), "pbc=True (a periodic box)",
                        "use preset 'molecule' for an isolated molecule, or set pbc=True"),
        "bulk": (all(pbc), "pbc=True", "use preset 'slab' or 'molecule', or set pbc=True"),
        "slab": (pbc == (True, True, False), "pbc=(True, True, False) with vacuum along z",
                 "use preset 'interface' for a z-periodic sandwich, or set pbc"),
        "interface": (pbc[0] and pbc[1], "periodic in-plane (pbc x and y True)",
                      "set pbc=(True, True, False) or (True, True, True)"),
    }
    ok, expected, todo = wanted[preset]
    if not ok:
        raise ConfigError(f"{where}: gpaw preset '{preset}' expects {expected}, "
                          f"got pbc={list(pbc)}; {todo}.")


def _check_vacuum(atoms: Atoms, where: str, preset: str, min_vacuum: float | None) -> None:
    if min_vacuum is None:
        return
    for axis in range(3):
        if atoms.pbc[axis]:
            continue
        lo, hi = vacuum_A(atoms, axis)
        if min(lo, hi) < min_vacuum - 1e-6:  # atoms.center(vacuum=v) must pass v
            raise ConfigError(
                f"{where}: only {min(lo, hi):.2f} Å between the atoms and the cell face along "
                f"{_AXES[axis]} (preset '{preset}' needs {min_vacuum:.1f} Å); center the "
                f"structure with atoms.center(vacuum={min_vacuum:.1f}, axis={axis}) or set "
                "gpaw.min_vacuum_A.")


def _check_kpts(atoms: Atoms, where: str, kpts: list[int] | None) -> None:
    if kpts is None:
        return
    for axis in range(3):
        if not atoms.pbc[axis] and kpts[axis] != 1:
            raise ConfigError(
                f"{where}: gpaw.kpts {kpts} samples the non-periodic {_AXES[axis]} axis; "
                f"use 1 k-point along {_AXES[axis]}.")


def _check_spin(atoms: Atoms, where: str, r: dict[str, Any]) -> None:
    if r["spinpol"] is False and r["preset"] in ("molecule", "electrolyte") \
            and needs_spin(atoms, r["charge"]):
        raise ConfigError(
            f"{where}: {electron_count(atoms, r['charge']):.0f} electrons (charge "
            f"{r['charge']}) is odd but gpaw.spinpol is false; a spin-paired open shell "
            "is unphysical: remove spinpol (auto) or set it true.")


def _check_setups(atoms: Atoms, where: str, r: dict[str, Any]) -> None:
    extra = r["extra"]
    xc = extra.get("xc", r["xc"])
    if not isinstance(xc, str):
        return  # a functional object or dict: GPAW will say
    try:
        missing = missing_paw_files(set(atoms.get_chemical_symbols()), xc,
                                    setups=extra.get("setups", "paw"),
                                    basis=extra.get("basis", r["basis"]))
    except (ValueError, KeyError, NameError) as err:  # gpaw: NameError("Unknown functional")
        raise ConfigError(f"{where}: GPAW does not know the functional gpaw.xc={xc!r}: "
                          f"{err}") from None
    if missing:
        files = ", ".join(f"{s}: {f}" for s, f in missing.items())
        raise ConfigError(
            f"{where}: no PAW setup/basis file for {sorted(missing)} with xc={xc!r} "
            f"({files}) in {_setup_paths()}; choose another xc (PBE/LDA cover 83 elements), "
            "or install setups and point GPAW_SETUP_PATH to them.")


def _check_stress(where: str, r: dict[str, Any]) -> None:
    if r["preset"] == "bulk" and not stress_supported(r["mode"]):
        raise ConfigError(
            f"{where}: gpaw preset 'bulk' labels the stress, which new GPAW computes in PW "
            f"mode only (mode is {r['mode']!r}); set gpaw.mode: pw.")


# --------------------------------------------------------------------------- labeling
def prepare_atoms(atoms: Atoms, params: dict[str, Any]) -> Atoms:
    """A calculator-free copy of ``atoms`` ready for GPAW.

    When spin polarization is on, the electron count is odd and the structure
    carries no initial magnetic moments, one Bohr magneton is spread evenly
    over the atoms: with smearing, a spin-polarized SCF started from zero
    moments stays non-magnetic (measured: OH 0.39 eV too high).
    """
    work = atoms.copy()
    work.calc = None
    moments = work.get_initial_magnetic_moments()
    if params.get("spinpol") and not np.any(moments) \
            and needs_spin(work, float(params.get("charge") or 0.0)):
        work.set_initial_magnetic_moments(np.full(len(work), 1.0 / len(work)))
    return work


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
        _reproducible_fft_plans()  # for every GPAW calculation of this process

    # -- Oracle protocol ---------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """Resolved settings plus the GPAW and PAW-dataset versions."""
        import gpaw

        return {"kind": "gpaw", "gpaw": gpaw.__version__, "gpaw_data": _gpaw_data_version(),
                "gpaw_setup_path": os.environ.get("GPAW_SETUP_PATH"),
                **resolved_settings(self._settings)}

    def check(self, atoms: Atoms, where: str) -> None:
        """Raise ConfigError naming ``where`` if GPAW cannot label ``atoms``."""
        r = resolved_settings(self._settings)
        if len(atoms) == 0:
            raise ConfigError(f"{where}: the structure has no atoms.")
        _check_periodicity(atoms, where, r["preset"])
        _check_cell(atoms, where)
        _check_vacuum(atoms, where, r["preset"], r["min_vacuum_A"])
        _check_kpts(atoms, where, r["kpts"])
        _check_spin(atoms, where, r)
        _check_stress(where, r)
        _check_setups(atoms, where, r)

    def label(self, atoms: Atoms) -> Label:
        """Energy (eV), forces (eV/Å) and, for 3D-periodic PW cells, stress (eV/Å³).

        Raises
        ------
        LabelFailed
            When every rung of the retry ladder fails to converge, or on any
            other GPAW error; with the attempts and GPAW's text output.
        """
        params = gpaw_parameters(self._settings, atoms)
        work = prepare_atoms(atoms, params)
        attempts: list[dict[str, Any]] = []
        logs: list[str] = []
        for number, (rung, changes, current) in enumerate(retry_plan(params), start=1):
            attempt = self._attempt(work, current, number, rung, changes)
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
    def _attempt(self, work: Atoms, params: dict[str, Any], number: int, rung: str,
                 changes: dict[str, Any]) -> _Attempt:
        from gpaw import GPAW, ConvergenceError

        buf = io.StringIO()
        record: dict[str, Any] = {"attempt": number, "rung": rung, "changed": changes}
        t0 = time.perf_counter()
        label = None
        scf_failed = False
        try:
            work.calc = GPAW(**params, txt=buf, communicator=self._communicator)
            label = self._compute(work, _mode_name(params))
        except ConvergenceError as err:
            scf_failed = True
            record["error"] = f"{type(err).__name__}: {err}".rstrip(": ")
        except Exception as err:  # noqa: BLE001 - any GPAW failure becomes a failed label
            record["error"] = f"{type(err).__name__}: {err}"
        finally:
            work.calc = None
        text = buf.getvalue()
        record.update(ok=label is not None, iterations=_iterations(text),
                      wall_s=round(time.perf_counter() - t0, 3))
        header = f"==== attempt {number} ({rung}) changed={changes} ok={label is not None} ====\n"
        return _Attempt(record=record, log_text=header + text, label=label, scf_failed=scf_failed)

    @staticmethod
    def _compute(work: Atoms, mode: str) -> Label:
        energy = float(work.get_potential_energy(force_consistent=True))
        forces = np.array(work.get_forces(apply_constraint=False), dtype=float)
        stress = None
        if work.pbc.all() and stress_supported(mode):
            stress = np.array(work.get_stress(voigt=True, apply_constraint=False), dtype=float)
        return Label(energy=energy, forces=forces, stress=stress)


def _gpaw_data_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gpaw-data")
    except PackageNotFoundError:
        return None
