"""From the reduction free energy to an electrode potential, and the whole result.

For Ox + e⁻ → Red with ΔA = A_red − A_ox (the electron taken from rest in
vacuum, as the total energies of the two charge states imply), the absolute
potential is U_abs = −ΔA/e, in V when ΔA is in eV. Against a reference
electrode (:class:`PotentialReference`):

* the absolute SHE, U = U_abs − 4.44 V (IUPAC's recommended value, Trasatti
  1986; other values in use lie between 4.28 and 4.44 V), or
* a reference couple computed with the same setup (a computed SHE, e.g.
  Cheng and Sprik's from the H₃O⁺ deprotonation, or a known couple):
  U = −(ΔA − ΔA_ref)/e + U_ref, which cancels what the setup does to both
  alike (the functional's systematic error, the average-potential convention
  of periodic cells).

Finite size (:class:`FiniteSizeCorrection`): in a periodic cell a charge q
interacts with its images and the neutralising background; to leading order
(Makov–Payne monopole term, screened by a dielectric constant ε) the
energy of the isolated system is E(L) + q² α_M / (2 ε L) (α_M = 2.837297 for a
simple cubic lattice, e²/4πε₀ = 14.40 eV Å). For the couple ΔA gains
(q_red² − q_ox²) α_M e²/(8πε₀ ε L). It is applied only when asked for and
stated in the result; it is not needed for a cluster in vacuum, and a
computed reference in the same cell largely cancels it.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ase import units

from alearn.state import write_json_atomic

from ..results import Estimate, to_jsonable
from .fep import FEPCorrection
from .ti import TIResult

log = logging.getLogger(__name__)

__all__ = ["COULOMB_EV_A", "SHE_ABSOLUTE_V", "SIMPLE_CUBIC_MADELUNG", "FiniteSizeCorrection",
           "PotentialReference", "RedoxResult", "redox_potential"]

#: absolute potential of the standard hydrogen electrode (V), IUPAC (Trasatti 1986)
SHE_ABSOLUTE_V = 4.44
#: Madelung constant of a point charge in a simple cubic lattice (Makov–Payne α)
SIMPLE_CUBIC_MADELUNG = 2.837297
#: e²/(4πε₀) in eV·Å
COULOMB_EV_A = float(units.Hartree * units.Bohr)


@dataclass(frozen=True)
class PotentialReference:
    """The electrode a potential is given against.

    Use :meth:`absolute_she` or :meth:`computed`.

    Parameters
    ----------
    name
        E.g. ``"SHE"``.
    absolute_V
        The reference's absolute potential (V), for a tabulated reference.
    dA_eV
        For a computed reference: the reduction free energy of its couple,
        obtained with the same setup (eV).
    potential_V
        For a computed reference: its couple's potential on the scale wanted
        (0 for a computed SHE).
    """

    name: str
    absolute_V: Estimate | None = None
    dA_eV: Estimate | None = None
    potential_V: float = 0.0

    @classmethod
    def absolute_she(cls, value_V: float = SHE_ABSOLUTE_V, stderr_V: float = 0.0
                     ) -> PotentialReference:
        """The SHE at its absolute potential (default 4.44 V)."""
        return cls("SHE", absolute_V=Estimate(value_V, stderr_V, 0))

    @classmethod
    def computed(cls, dA_eV: Estimate, *, potential_V: float = 0.0,
                 name: str = "SHE (computed)") -> PotentialReference:
        """A reference couple whose ΔA was computed the same way, at ``potential_V``."""
        return cls(name, dA_eV=dA_eV, potential_V=potential_V)

    def potential(self, dA_eV: Estimate) -> Estimate:
        """The potential (V) against this reference of a couple with reduction free energy
        ``dA_eV``; errors combined as independent."""
        if self.dA_eV is not None:
            return Estimate(-(dA_eV.value - self.dA_eV.value) + self.potential_V,
                            math.hypot(dA_eV.stderr, self.dA_eV.stderr), 0)
        if self.absolute_V is None:
            raise ValueError(f"reference {self.name!r} has neither absolute_V nor dA_eV")
        return Estimate(-dA_eV.value - self.absolute_V.value,
                        math.hypot(dA_eV.stderr, self.absolute_V.stderr), 0)

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({"name": self.name, "absolute_V": self.absolute_V,
                            "dA_eV": self.dA_eV, "potential_V": self.potential_V})


@dataclass(frozen=True)
class FiniteSizeCorrection:
    """Leading-order correction of ΔA for the charges of a periodic cell (see the module).

    Parameters
    ----------
    charge_ox, charge_red
        Total charges (e) of the cell in the two states.
    cell_length_A
        Edge L of the (cubic) cell, Å.
    dielectric_constant
        ε screening the images: 1 for vacuum; for a solute in explicit solvent,
        the solvent's (e.g. 78 for water) when the cell's solvent screens the images.
    madelung
        α_M of the lattice (simple cubic by default).
    """

    charge_ox: int
    charge_red: int
    cell_length_A: float
    dielectric_constant: float
    madelung: float = SIMPLE_CUBIC_MADELUNG

    @property
    def energy_eV(self) -> float:
        """(q_red² − q_ox²) α_M e² / (8πε₀ ε L), added to ΔA (eV)."""
        return ((self.charge_red**2 - self.charge_ox**2) * self.madelung * COULOMB_EV_A
                / (2.0 * self.dielectric_constant * self.cell_length_A))

    def to_dict(self) -> dict[str, Any]:
        return {"charge_ox": self.charge_ox, "charge_red": self.charge_red,
                "cell_length_A": self.cell_length_A,
                "dielectric_constant": self.dielectric_constant, "madelung": self.madelung,
                "energy_eV": self.energy_eV,
                "formula": "(q_red^2 - q_ox^2) * madelung * e^2/(4 pi eps0) / (2 eps L)"}


@dataclass(frozen=True)
class RedoxResult:
    """A redox potential and how it was obtained.

    Parameters
    ----------
    ti
        The thermodynamic integration on the sampling model.
    corrections
        FEP corrections to a reference level (none, or one per end state).
    finite_size
        The finite-size correction applied, or None.
    reference
        The electrode the potential is given against.
    dA_eV
        ΔA with every correction applied (eV).
    absolute_potential_V
        −ΔA/e (V).
    potential_V
        Against ``reference`` (V).
    warnings
        What the user should know (non-linear response, unreliable corrections).
    """

    ti: TIResult
    corrections: tuple[FEPCorrection, ...]
    finite_size: FiniteSizeCorrection | None
    reference: PotentialReference
    dA_eV: Estimate
    absolute_potential_V: Estimate
    potential_V: Estimate
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({
            "dA_eV": self.dA_eV, "dA_model_eV": self.ti.dA_eV,
            "absolute_potential_V": self.absolute_potential_V,
            "potential_V": self.potential_V, "reference": self.reference.to_dict(),
            "corrections": [c.to_dict() for c in self.corrections],
            "finite_size": None if self.finite_size is None else self.finite_size.to_dict(),
            "warnings": list(self.warnings), "ti": self.ti.to_dict()})

    def to_json(self) -> dict[str, Any]:
        """Same as :meth:`to_dict`."""
        return self.to_dict()

    def write_json(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_dict` atomically; returns the path."""
        write_json_atomic(path, self.to_dict())
        return Path(path)

    def summary(self) -> str:
        lines = [self.ti.summary()]
        for c in self.corrections:
            lines.append(f"FEP {c.state} → {c.level}: {c.dA_eV:.4f} eV ({c.n_frames} frames, "
                         f"{c.effective_frames:.1f} effective)")
        if self.finite_size is not None:
            lines.append(f"finite-size correction {self.finite_size.energy_eV:+.4f} eV")
        lines += [f"ΔA = {self.dA_eV:.4f} eV; U_abs = {self.absolute_potential_V:.3f} V; "
                  f"U vs {self.reference.name} = {self.potential_V:.3f} V",
                  *[f"warning: {w}" for w in self.warnings]]
        return "\n".join(lines)


def redox_potential(ti: TIResult, *, corrections: Sequence[FEPCorrection] = (),
                    reference: PotentialReference | None = None,
                    finite_size: FiniteSizeCorrection | None = None) -> RedoxResult:
    """Combine the integration, the end-state corrections and the reference into a potential.

    Parameters
    ----------
    ti
        The thermodynamic integration (on the models).
    corrections
        Either none, or one :class:`FEPCorrection` for each of ``ox`` and ``red``
        to the same level: ΔA += corr(red) − corr(ox).
    reference
        Default: the absolute SHE at 4.44 V.
    finite_size
        Applied when given.
    """
    reference = reference or PotentialReference.absolute_she()
    value, var = ti.dA_eV.value, ti.dA_eV.stderr**2
    warnings = []
    if corrections:
        by_state = {c.state: c for c in corrections}
        if sorted(by_state) != ["ox", "red"] or len(corrections) != 2 or \
                len({c.level for c in corrections}) != 1:
            raise ValueError("corrections: give one per state (ox and red), to the same level")
        value += by_state["red"].dA_eV.value - by_state["ox"].dA_eV.value
        var += by_state["red"].dA_eV.stderr**2 + by_state["ox"].dA_eV.stderr**2
        warnings += [f"the FEP correction of state {c.state} rests on {c.effective_frames:.1f} "
                     f"effective frames of {c.n_frames}: unreliable" for c in corrections
                     if not c.reliable]
    if ti.extrapolating:
        warnings.append(ti.extrapolation_warning())
    if finite_size is not None:
        value += finite_size.energy_eV
    if not ti.linear_response:
        warnings.append(f"⟨ΔE⟩_λ is not linear within its errors (χ² p = {ti.fit.p_value:.3g}): "
                        "the end-point (Marcus) estimates do not hold; the quadrature does")
    dA = Estimate(value, math.sqrt(var), 0)
    absolute = Estimate(-dA.value, dA.stderr, 0)
    return RedoxResult(ti, tuple(corrections), finite_size, reference, dA, absolute,
                       reference.potential(dA), tuple(warnings))
