"""GPAW keyword arguments from a preset, overridden key by key by the user's settings.

:func:`gpaw_parameters` turns a :class:`alearn.config.GPAWSettings` and a
structure into the keyword arguments of ``gpaw.GPAW`` (new-GPAW API, gpaw ≥ 24).
A *preset* names the kind of system and supplies defaults; every field set in
the settings replaces the preset's value, and ``settings.extra`` is applied
last, key by key, as raw GPAW keywords.

Presets (defaults; the reasons are in :data:`PRESETS` and ``docs/gpaw.md``)
---------------------------------------------------------------------------

============  ======  ========  =========================  ===========  ======  ===========
preset        mode    ecut/eV   k-points                   smearing/eV  dipole  min vacuum/Å
============  ======  ========  =========================  ===========  ======  ===========
molecule      pw      400       Γ                          0 (integer)  no      3.0 (all)
electrolyte   pw      400       Γ (or density if given)    0.05 FD      no      –
bulk          pw      600       3.5 per Å⁻¹                0.1 FD       no      –
interface     pw      400       3.5 per Å⁻¹ in-plane, kz=1 0.1 FD       if z    4.0 (z)
slab          pw      400       3.5 per Å⁻¹ in-plane, kz=1 0.1 FD       yes     4.0 (z)
============  ======  ========  =========================  ===========  ======  ===========

All presets use PBE, the ``dzp`` basis (the LCAO basis; in PW mode only the
initial guess), at most 150 SCF iterations and GPAW's convergence criteria plus
a force criterion of 1 meV/Å. Spin polarization is switched on when the number
of electrons (nuclear charges minus ``charge``) is odd, except in the metallic
``interface`` and ``slab`` presets (spin-paired unless ``spinpol: true``). k-point
grids are Γ-centred.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from ase import Atoms

if TYPE_CHECKING:
    from alearn.config import GPAWSettings

__all__ = [
    "PRESETS",
    "Preset",
    "electron_count",
    "gpaw_parameters",
    "kpts_from_density",
    "needs_spin",
    "resolved_settings",
    "stress_supported",
    "vacuum_A",
]


@dataclass(frozen=True)
class Preset:
    """Defaults of one kind of system.

    Attributes
    ----------
    mode
        ``"pw"``, ``"lcao"`` or ``"fd"``.
    ecut_eV
        Plane-wave cutoff (eV), PW mode.
    kpt_density_per_A
        k-points per Å⁻¹ of reciprocal length (2π included, ASE's convention);
        None: Γ-point only unless the user gives a density.
    periodic_kz
        False: one k-point along z (slabs, interfaces).
    smearing_eV
        Fermi–Dirac width (eV); 0 gives integer (zero-width) occupations.
    dipole_correction
        Dipole layer along z when z is not periodic.
    min_vacuum_A
        Least distance (Å) from an atom to a non-periodic cell face; None: no check.
    reasons
        Why each default was chosen (key → sentence), shown in ``docs/gpaw.md``.
    """

    mode: str = "pw"
    ecut_eV: float = 400.0
    xc: str = "PBE"
    basis: str = "dzp"
    kpt_density_per_A: float | None = None
    periodic_kz: bool = True
    smearing_eV: float = 0.0
    maxiter: int = 150
    convergence: dict[str, float] = field(
        default_factory=lambda: {"energy": 5e-4, "density": 1e-4, "forces": 1e-3})
    dipole_correction: bool = False
    min_vacuum_A: float | None = None
    spin_if_odd: bool = True  # spin-polarised when the electron count is odd (spinpol unset)
    reasons: dict[str, str] = field(default_factory=dict)


_COMMON_REASONS = {
    "mode": "PW is the only new-GPAW mode with stress and is fast for small cells; "
            "LCAO (mode: lcao) is cheaper for large cells but has no stress in gpaw 26.",
    "xc": "PBE: PAW setups for 83 elements ship with gpaw-data; a common baseline for "
          "electrolytes and electrodes (set xc: RPBE/revPBE for better water structure).",
    "basis": "dzp: the LCAO basis in LCAO mode; in PW mode only the initial guess "
             "(does not change converged labels, shortens the SCF).",
    "maxiter": "150: a healthy SCF converges in 10-60 iterations; a longer one is "
               "usually oscillating, and the retry ladder (damped mixing) is cheaper "
               "than waiting for GPAW's 333.",
    "convergence": "GPAW's energy (5e-4 eV/electron) and density (1e-4) criteria plus "
                   "forces within 1 meV/Å: forces are the main training signal, and "
                   "without it eigensolvers disagree by ~3 meV/Å.",
}

_METAL_SPIN = {
    "spinpol": "spin-paired even for an odd electron count: in a smeared metal an odd count "
               "is not an open shell (Cu(111) | water + Li came out with zero moment at twice "
               "the cost); set spinpol: true for magnetic electrodes (Fe, Co, Ni).",
}

PRESETS: dict[str, Preset] = {
    "molecule": Preset(
        smearing_eV=0.0, min_vacuum_A=3.0,
        reasons={**_COMMON_REASONS,
                 "ecut_eV": "400 eV: forces converged to ~10 meV/Å for first-row PAW setups.",
                 "kpts": "Γ only: an isolated molecule has no dispersion.",
                 "smearing_eV": "0 (integer occupations): a molecule has discrete levels; "
                                "the retry ladder adds 0.1 eV only if the SCF fails.",
                 "min_vacuum_A": "3 Å to every face: the density of first-row molecules "
                                 "decays below 1e-4 e/Å³ within ~3 Å; periodic images "
                                 "stay ≥ 6 Å apart."}),
    "electrolyte": Preset(
        smearing_eV=0.05,
        reasons={**_COMMON_REASONS,
                 "ecut_eV": "400 eV: as for molecules (same elements, liquid density).",
                 "kpts": "Γ only: liquid boxes of ≥ 10 Å are insulating with flat bands; "
                         "set kpt_density_per_A for small boxes.",
                 "smearing_eV": "0.05 eV Fermi–Dirac: leaves the occupations of a gapped "
                                "liquid integer, but keeps the SCF of frames with "
                                "near-degenerate levels (radicals, stretched bonds) stable."}),
    "bulk": Preset(
        ecut_eV=600.0, kpt_density_per_A=3.5, smearing_eV=0.1,
        reasons={**_COMMON_REASONS,
                 "ecut_eV": "600 eV: the stress (Pulay stress) converges more slowly with "
                            "the cutoff than energies and forces; on Li3OCl it is 18 GPa "
                            "off at 400 eV, 5.6 at 500, 1.5 at 600 (against 800 eV).",
                 "kpts": "3.5 k-points per Å⁻¹ (ASE/GPAW customary): ~meV/atom for "
                         "insulators; raise for metals.",
                 "smearing_eV": "0.1 eV Fermi–Dirac: GPAW's periodic default; needed for "
                                "metals, harmless for insulators."}),
    "interface": Preset(
        kpt_density_per_A=3.5, periodic_kz=False, smearing_eV=0.1, dipole_correction=True,
        min_vacuum_A=4.0, spin_if_odd=False,
        reasons={**_COMMON_REASONS, **_METAL_SPIN,
                 "ecut_eV": "400 eV: as for the electrolyte part.",
                 "kpts": "3.5 per Å⁻¹ in-plane (metal electrode), one k-point along the "
                         "long z axis (vacuum or liquid: no dispersion).",
                 "smearing_eV": "0.1 eV Fermi–Dirac: metallic electrode.",
                 "dipole_correction": "dipole layer in the vacuum when z is not periodic: "
                                      "removes the spurious field of an asymmetric cell.",
                 "min_vacuum_A": "4 Å per side along z when z is not periodic: room for "
                                 "the dipole layer where the density is ~0."}),
    "slab": Preset(
        kpt_density_per_A=3.5, periodic_kz=False, smearing_eV=0.1, dipole_correction=True,
        min_vacuum_A=4.0, spin_if_odd=False,
        reasons={**_COMMON_REASONS, **_METAL_SPIN,
                 "ecut_eV": "400 eV: as for the interface preset.",
                 "kpts": "3.5 per Å⁻¹ in-plane, one k-point along the non-periodic z.",
                 "smearing_eV": "0.1 eV Fermi–Dirac: metallic slab.",
                 "dipole_correction": "dipole layer along z: adsorbates make slabs "
                                      "asymmetric.",
                 "min_vacuum_A": "4 Å per side along z (8 Å gap): room for the dipole "
                                 "layer."}),
}


# --------------------------------------------------------------------------- helpers
def electron_count(atoms: Atoms, charge: float = 0.0) -> float:
    """All-electron count: nuclear charges minus the total charge (e).

    PAW cores are closed shells, so the parity of the valence count is the same.
    """
    return float(atoms.numbers.sum()) - charge


def needs_spin(atoms: Atoms, charge: float = 0.0) -> bool:
    """True when the electron count is an odd integer (a radical, a reduced ion)."""
    n = electron_count(atoms, charge)
    return abs(n - round(n)) < 1e-6 and round(n) % 2 == 1


def kpts_from_density(atoms: Atoms, density_per_A: float,
                      periodic: tuple[bool, bool, bool] | None = None) -> tuple[int, int, int]:
    """Γ-centred grid size from a k-point density.

    ``n_i = max(1, ceil(2π |b_i| · density))`` with ``b_i`` the reciprocal cell
    vectors without 2π (ASE's ``kptdensity`` convention); 1 along directions
    that are not periodic (or excluded by ``periodic``).

    Parameters
    ----------
    atoms
        Structure with a cell.
    density_per_A
        k-points per Å⁻¹.
    periodic
        Directions to sample; default ``atoms.pbc``.
    """
    pbc = atoms.pbc if periodic is None else np.asarray(periodic, dtype=bool)
    lengths = np.linalg.norm(atoms.cell.reciprocal(), axis=1)
    sizes = [max(1, math.ceil(2 * math.pi * length * density_per_A - 1e-9)) if p else 1
             for length, p in zip(lengths, pbc, strict=True)]
    return (sizes[0], sizes[1], sizes[2])


def vacuum_A(atoms: Atoms, axis: int) -> tuple[float, float]:
    """Distances (Å) from the atoms to the lower and upper cell faces along ``axis``.

    Measured perpendicular to the face, from the unwrapped scaled positions, so
    a negative value means an atom lies outside the cell.
    """
    recip = np.linalg.norm(atoms.cell.reciprocal()[axis])
    if recip == 0 or len(atoms) == 0:
        return (0.0, 0.0)
    frac = atoms.cell.scaled_positions(atoms.positions)[:, axis]
    return (float(frac.min() / recip), float((1.0 - frac.max()) / recip))


def stress_supported(mode: str) -> bool:
    """New GPAW computes the stress tensor in PW mode only (gpaw 26.7)."""
    return mode == "pw"


def _occupations(width_eV: float) -> dict[str, Any]:
    return {"name": "fermi-dirac", "width": float(width_eV)}


# --------------------------------------------------------------------------- public
def resolved_settings(settings: GPAWSettings) -> dict[str, Any]:
    """The structure-independent settings after applying the preset (JSON-ready).

    Everything that decides a label's value except what depends on the
    structure (k-point grid, spin, initial moments): stored with every label.
    """
    p = PRESETS[settings.preset]
    convergence = {**p.convergence, **(settings.convergence or {})}
    return {
        "preset": settings.preset,
        "mode": settings.mode or p.mode,
        "xc": settings.xc or p.xc,
        "ecut_eV": (settings.ecut_eV or p.ecut_eV) if (settings.mode or p.mode) == "pw" else None,
        "h_A": settings.h_A,
        "basis": settings.basis or p.basis,
        "kpts": list(settings.kpts) if settings.kpts is not None else None,
        "kpt_density_per_A": settings.kpt_density_per_A or p.kpt_density_per_A,
        "spinpol": settings.spinpol,
        "charge": settings.charge,
        "smearing_eV": p.smearing_eV if settings.smearing_eV is None else settings.smearing_eV,
        "maxiter": settings.maxiter or p.maxiter,
        "convergence": convergence,
        "dipole_correction": (p.dipole_correction if settings.dipole_correction is None
                              else settings.dipole_correction),
        "min_vacuum_A": (p.min_vacuum_A if settings.min_vacuum_A is None
                         else settings.min_vacuum_A),
        "extra": dict(settings.extra),
    } | ({} if settings.magmom_muB is None else {"magmom_muB": settings.magmom_muB})


def gpaw_parameters(settings: GPAWSettings, atoms: Atoms) -> dict[str, Any]:
    """GPAW keyword arguments for ``atoms`` (JSON-serializable, no ``txt``).

    Parameters
    ----------
    settings
        User settings; fields left None take the preset's default.
    atoms
        The structure; its cell and ``pbc`` decide the k-point grid and
        whether a dipole correction applies. Not modified.

    Returns
    -------
    dict
        ``mode``, ``xc``, ``basis``, ``kpts`` (``{"size": [n1, n2, n3],
        "gamma": True}``), ``spinpol``, ``charge``, ``occupations``,
        ``maxiter``, ``convergence``, and ``poissonsolver`` (dipole layer) and
        ``h`` where they apply, then ``settings.extra`` on top.

    Notes
    -----
    Initial magnetic moments are not GPAW keywords; see
    :func:`alearn.methods.gpaw.prepare_atoms`, which seeds them when spin
    polarization is switched on automatically.
    """
    r = resolved_settings(settings)
    preset = PRESETS[settings.preset]
    mode = r["mode"]
    params: dict[str, Any] = {
        "mode": {"name": "pw", "ecut": r["ecut_eV"]} if mode == "pw" else {"name": mode},
        "xc": r["xc"],
        "basis": r["basis"],
        "kpts": {"size": list(_kpts(r, preset, atoms)), "gamma": True},
        "spinpol": (r["spinpol"] if r["spinpol"] is not None
                    else preset.spin_if_odd and needs_spin(atoms, r["charge"])),
        "charge": r["charge"],
        "occupations": _occupations(r["smearing_eV"]),
        "maxiter": r["maxiter"],
        "convergence": r["convergence"],
    }
    if r.get("magmom_muB") is not None:  # the moment seeded by prepare_atoms stays fixed
        params["spinpol"] = True
        params["occupations"]["fixmagmom"] = True
    if r["h_A"] is not None:
        params["h"] = r["h_A"]
    if r["dipole_correction"] and atoms.pbc[0] and atoms.pbc[1] and not atoms.pbc[2]:
        params["poissonsolver"] = {"dipolelayer": "xy"}
    params.update(r["extra"])
    return params


def _kpts(r: dict[str, Any], preset: Preset, atoms: Atoms) -> tuple[int, int, int]:
    if r["kpts"] is not None:
        return tuple(r["kpts"])  # type: ignore[return-value]
    density = r["kpt_density_per_A"]
    if density is None or not atoms.pbc.any():
        return (1, 1, 1)
    periodic = (bool(atoms.pbc[0]), bool(atoms.pbc[1]),
                bool(atoms.pbc[2]) and preset.periodic_kz)
    return kpts_from_density(atoms, density, periodic)
