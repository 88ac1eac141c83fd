"""GPAW (plane-wave / LCAO PAW DFT): the product oracle, and a Δ-ML baseline.

The keywords come from :func:`alearn.methods.gpaw_presets.gpaw_parameters` (a
preset, overridden by the user's settings) and follow the structure (k-points,
spin, dipole layer): :class:`GPAWCalculator` is the ASE calculator built on
them. The checks below reject, before any DFT, what GPAW cannot treat or what
the preset does not fit (periodicity, cell, vacuum, k-points, spin, stress,
PAW setups).

Energies and forces
-------------------
The energy is GPAW's *free* energy (``force_consistent=True``), the quantity
whose negative gradient the forces are; with integer occupations it equals
the total energy. Forces ignore the structure's constraints. New GPAW (26.7)
computes the stress (eV/Å³) in PW mode only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from glob import glob
from typing import TYPE_CHECKING, Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from alearn.errors import ConfigError
from alearn.methods.base import Keys, atom_in_box, package_version
from alearn.methods.gpaw_presets import (
    electron_count,
    gpaw_parameters,
    needs_spin,
    resolved_settings,
    stress_supported,
    vacuum_A,
)

if TYPE_CHECKING:
    from alearn.config import GPAWSettings

__all__ = ["KEYS", "GPAWCalculator", "charge", "check_atoms", "code_versions",
           "isolated_atom", "make_calculator", "missing_paw_files", "prepare_atoms",
           "reproducible_fft_plans", "settings_dict"]

KEYS = Keys(prefix="gpaw", subject="GPAW")
_AXES = "xyz"
# setup types that need no file on disk
_FILELESS_SETUPS = {"ae", "ghost", "hgh", "hgh.sc", "sg15"}


# --------------------------------------------------------------------------- calculator
def prepare_atoms(atoms: Atoms, params: dict[str, Any], magmom_muB: float | None = None
                  ) -> Atoms:
    """A calculator-free copy of ``atoms`` ready for GPAW with keywords ``params``.

    Along non-periodic axes the atoms are centred in the cell (the cell is kept): a
    molecule or cluster drifts in MD (a Langevin thermostat does not conserve
    momentum) and GPAW refuses atoms near a non-periodic cell face; the energy and
    forces do not depend on the translation, up to the grid's egg-box effect.

    With a fixed total moment (``magmom_muB``, GPAW's ``fixmagmom``), initial
    moments adding up to it are spread evenly over the atoms unless the
    structure's own add up to it. Otherwise, when spin polarization is on, the
    electron count is odd and the structure carries no initial magnetic
    moments, one Bohr magneton is spread evenly over the atoms: with smearing,
    a spin-polarized SCF started from zero moments stays non-magnetic
    (measured: OH 0.39 eV too high).
    """
    work = atoms.copy()
    work.calc = None
    for axis in np.flatnonzero(~work.pbc):
        work.center(axis=int(axis))
    moments = work.get_initial_magnetic_moments()
    if magmom_muB is not None:
        if not np.isclose(moments.sum(), magmom_muB):
            work.set_initial_magnetic_moments(np.full(len(work), magmom_muB / len(work)))
    elif params.get("spinpol") and not np.any(moments) \
            and needs_spin(work, float(params.get("charge") or 0.0)):
        work.set_initial_magnetic_moments(np.full(len(work), 1.0 / len(work)))
    return work


class GPAWCalculator(Calculator):
    """GPAW whose keywords follow the structure (k-points, spin, dipole layer).

    ``gpaw_parameters`` depends on the cell, ``pbc`` and electron count, so the
    GPAW calculator is (re)built on the first call and whenever those keywords
    change; between MD steps it is kept and reuses its density. The energy is
    GPAW's free energy (consistent with the forces). Stress in PW mode only.

    Parameters
    ----------
    settings
        GPAW settings (preset + overrides), e.g. ``OracleConfig.gpaw``.
    overrides
        GPAW keywords applied over those of the settings (the oracle's SCF
        retry ladder); None: none.
    communicator
        MPI communicator for GPAW (default: GPAW's world).
    txt
        GPAW's text output (None: discarded).
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, settings: GPAWSettings, *, overrides: dict[str, Any] | None = None,
                 communicator: Any = None, txt: Any = None) -> None:
        super().__init__()
        self.settings = settings
        self.overrides = dict(overrides or {})
        self.communicator = communicator
        self.txt = txt
        self._gpaw: Any = None
        self._params: dict[str, Any] | None = None

    def _calculator(self, atoms: Atoms) -> tuple[Any, dict[str, Any]]:
        params = {**gpaw_parameters(self.settings, atoms), **self.overrides}
        if self._gpaw is None or params != self._params:
            from gpaw import GPAW

            self._gpaw = GPAW(**params, txt=self.txt, communicator=self.communicator)
            self._params = params
        return self._gpaw, params

    def calculate(self, atoms: Atoms | None = None, properties: Sequence[str] = ("energy",),
                  system_changes: Sequence[str] = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        gpaw, params = self._calculator(self.atoms)
        work = prepare_atoms(self.atoms, params, self.settings.magmom_muB)
        work.calc = gpaw
        energy = float(work.get_potential_energy(force_consistent=True))
        self.results = {"energy": energy, "free_energy": energy}
        if "forces" in properties or "stress" in properties:
            self.results["forces"] = np.array(work.get_forces(apply_constraint=False))
        if "stress" in properties:
            mode = mode_name(params)
            if not (work.pbc.all() and stress_supported(mode)):
                raise PropertyNotImplementedError(
                    f"GPAW gives the stress for 3D-periodic cells in PW mode only "
                    f"(mode {mode!r}, pbc={work.pbc.tolist()})")
            self.results["stress"] = np.array(work.get_stress(voigt=True,
                                                              apply_constraint=False))


def make_calculator(settings: GPAWSettings, *, keys: Keys = KEYS,
                    communicator: Any = None) -> GPAWCalculator:
    """:class:`GPAWCalculator` for ``settings`` (``keys``: unused)."""
    return GPAWCalculator(settings, communicator=communicator)


def mode_name(params: dict[str, Any]) -> str:
    """``"pw"``, ``"lcao"`` or ``"fd"`` from GPAW keywords."""
    mode = params.get("mode", "pw")
    return str(mode.get("name", "pw") if isinstance(mode, dict) else mode).lower()


def reproducible_fft_plans() -> None:
    """Make GPAW plan its FFTs with FFTW_ESTIMATE instead of FFTW_MEASURE.

    MEASURE picks FFT algorithms by timing them, so two runs on the same
    structure differ in the last bits (5e-13 eV measured on Li+(H2O)3 in LCAO
    mode), and MD on models trained on those labels then diverges. With
    ESTIMATE, reruns give identical labels. GPAW's own test suite sets the
    same class attribute. Applies to every GPAW calculation of the process.
    """
    from gpaw.fftw import ESTIMATE, FFTWPlans

    FFTWPlans._overwrite_flags = ESTIMATE


# GPAW keywords of settings.extra that isolated_atom sets itself
_ATOM_KEYWORDS = ("charge", "spinpol", "kpts", "magmoms", "hund")


def isolated_atom(settings: GPAWSettings, symbol: str) -> tuple[Atoms, GPAWSettings]:
    """The free neutral atom ``symbol`` and the settings to compute it with.

    Mode, functional, cutoff or grid spacing, basis, setups, smearing width and
    SCF criteria are those of ``settings``; the atom is neutral, spin-polarized
    with its moment fixed at the Hund's-rule value (initial moment on the atom,
    ``fixmagmom`` occupations), Γ only, without dipole layer. The box
    (:data:`~alearn.methods.base.ATOM_BOX_A`) is periodic in PW mode and
    non-periodic in LCAO and FD mode.
    """
    atoms = atom_in_box(symbol, periodic=resolved_settings(settings)["mode"] == "pw")
    extra = {k: v for k, v in settings.extra.items() if k not in _ATOM_KEYWORDS}
    if isinstance(extra.get("poissonsolver"), dict) and "dipolelayer" in extra["poissonsolver"]:
        del extra["poissonsolver"]
    atom = settings.model_copy(update={
        "charge": 0.0, "spinpol": True, "magmom_muB": None, "kpts": (1, 1, 1),
        "kpt_density_per_A": None,
        "dipole_correction": False, "extra": extra})
    fixed = {**gpaw_parameters(atom, atoms)["occupations"], "fixmagmom": True}
    return atoms, atom.model_copy(update={"extra": {**extra, "occupations": fixed}})


# --------------------------------------------------------------------------- provenance
def settings_dict(settings: GPAWSettings) -> dict[str, Any]:
    """The structure-independent settings after applying the preset."""
    return resolved_settings(settings)


def code_versions(settings: GPAWSettings) -> dict[str, Any]:
    """GPAW and PAW-dataset versions, and ``GPAW_SETUP_PATH`` (where setups are read)."""
    return {"gpaw": package_version("gpaw"), "gpaw_data": package_version("gpaw-data"),
            "gpaw_setup_path": os.environ.get("GPAW_SETUP_PATH")}


def charge(settings: GPAWSettings) -> float:
    """Total charge (e): ``settings.charge``."""
    return settings.charge


# --------------------------------------------------------------------------- checks
def check_atoms(atoms: Atoms, where: str, settings: GPAWSettings, *, keys: Keys = KEYS
                ) -> None:
    """Raise ConfigError naming ``where`` and the ``keys`` to change if GPAW with
    ``settings`` cannot label ``atoms``."""
    r = resolved_settings(settings)
    if len(atoms) == 0:
        raise ConfigError(f"{where}: the structure has no atoms.")
    _check_periodicity(atoms, where, r["preset"], keys)
    _check_cell(atoms, where)
    _check_vacuum(atoms, where, r["preset"], r["min_vacuum_A"], keys)
    _check_kpts(atoms, where, r["kpts"], keys)
    _check_spin(atoms, where, r, keys)
    _check_stress(where, r, keys)
    _check_setups(atoms, where, r, keys)


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


def _check_periodicity(atoms: Atoms, where: str, preset: str, keys: Keys) -> None:
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
        raise ConfigError(f"{where}: {keys.key('preset')} '{preset}' expects {expected}, "
                          f"got pbc={list(pbc)}; {todo}.")


def _check_vacuum(atoms: Atoms, where: str, preset: str, min_vacuum: float | None,
                  keys: Keys) -> None:
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
                f"{keys.key('min_vacuum_A')}.")


def _check_kpts(atoms: Atoms, where: str, kpts: list[int] | None, keys: Keys) -> None:
    if kpts is None:
        return
    for axis in range(3):
        if not atoms.pbc[axis] and kpts[axis] != 1:
            raise ConfigError(
                f"{where}: {keys.key('kpts')} {kpts} samples the non-periodic {_AXES[axis]} "
                f"axis; use 1 k-point along {_AXES[axis]}.")


def _check_spin(atoms: Atoms, where: str, r: dict[str, Any], keys: Keys) -> None:
    if r["spinpol"] is False and r["preset"] in ("molecule", "electrolyte") \
            and needs_spin(atoms, r["charge"]):
        raise ConfigError(
            f"{where}: {electron_count(atoms, r['charge']):.0f} electrons (charge "
            f"{r['charge']}) is odd but {keys.key('spinpol')} is false; a spin-paired open "
            "shell is unphysical: remove spinpol (auto) or set it true.")


def _check_setups(atoms: Atoms, where: str, r: dict[str, Any], keys: Keys) -> None:
    extra = r["extra"]
    xc = extra.get("xc", r["xc"])
    if not isinstance(xc, str):
        return  # a functional object or dict: GPAW will say
    try:
        missing = missing_paw_files(set(atoms.get_chemical_symbols()), xc,
                                    setups=extra.get("setups", "paw"),
                                    basis=extra.get("basis", r["basis"]))
    except (ValueError, KeyError, NameError) as err:  # gpaw: NameError("Unknown functional")
        raise ConfigError(f"{where}: GPAW does not know the functional {keys.key('xc')}={xc!r}: "
                          f"{err}") from None
    if missing:
        files = ", ".join(f"{s}: {f}" for s, f in missing.items())
        raise ConfigError(
            f"{where}: no PAW setup/basis file for {sorted(missing)} with xc={xc!r} "
            f"({files}) in {_setup_paths()}; choose another xc (PBE/LDA cover 83 elements), "
            "or install setups and point GPAW_SETUP_PATH to them.")


def _check_stress(where: str, r: dict[str, Any], keys: Keys) -> None:
    if r["preset"] == "bulk" and not stress_supported(r["mode"]):
        raise ConfigError(
            f"{where}: {keys.key('preset')} 'bulk' labels the stress, which new GPAW computes "
            f"in PW mode only (mode is {r['mode']!r}); set {keys.key('mode')}: pw.")
