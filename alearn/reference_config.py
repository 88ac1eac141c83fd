"""The config sections of the reference methods: the oracle and the Δ-ML baseline.

Part of the campaign schema (:mod:`alearn.config`, which re-exports every
name here); one settings class per method (:mod:`alearn.methods`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- oracles
class EMTSettings(_Strict):
    """ASE's EMT potential: a *test oracle* (Cu, Ag, Au, Ni, Pd, Pt, Al, H, C, N, O)."""


class XTBSettings(_Strict):
    """tblite xTB, a *test oracle* and a Δ-ML baseline."""

    method: Literal["GFN1-xTB", "GFN2-xTB", "IPEA1-xTB"] = "GFN1-xTB"
    charge: float = 0.0
    uhf: int = Field(0, ge=0, description="number of unpaired electrons")
    accuracy: float = Field(1.0, gt=0)
    electronic_temperature_K: float = Field(300.0, gt=0)
    max_iterations: int = Field(250, gt=0)


class GPAWSettings(_Strict):
    """GPAW settings. A preset supplies physically sound defaults; every other
    key given here overrides the preset. See ``alearn.methods.gpaw_presets``.
    """

    preset: Literal["molecule", "electrolyte", "bulk", "interface", "slab"] = "molecule"
    mode: Literal["pw", "lcao", "fd"] | None = None
    xc: str | None = None
    ecut_eV: float | None = Field(None, gt=0, description="plane-wave cutoff (PW mode)")
    h_A: float | None = Field(None, gt=0, description="grid spacing (FD/LCAO)")
    basis: str | None = None
    kpts: tuple[int, int, int] | None = None
    kpt_density_per_A: float | None = Field(None, gt=0, description="k-points per Å⁻¹")
    spinpol: bool | None = None
    magmom_muB: float | None = Field(
        None, ge=0, description="total magnetic moment held fixed (μB = unpaired electrons): "
                                "spin-polarised with fixmagmom occupations")
    charge: float = 0.0
    smearing_eV: float | None = Field(None, ge=0)
    maxiter: int | None = Field(None, gt=0)
    convergence: dict[str, float] | None = None
    dipole_correction: bool | None = None
    min_vacuum_A: float | None = Field(
        None, ge=0, description="least distance (Å) from an atom to a non-periodic cell face"
    )
    extra: dict[str, Any] = Field(default_factory=dict, description="passed to GPAW as is")


class CalculatorSettings(_Strict):
    """Any ASE calculator, given by import path, e.g. ``ase.calculators.lj:LennardJones``."""

    import_path: str = Field("", pattern=r"^$|^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    kwargs: dict[str, Any] = Field(default_factory=dict)


class OracleConfig(_Strict):
    """The reference method that labels selected structures."""

    kind: Literal["gpaw", "emt", "xtb", "calculator"]
    gpaw: GPAWSettings = GPAWSettings()
    xtb: XTBSettings = XTBSettings()
    emt: EMTSettings = EMTSettings()
    calculator: CalculatorSettings = CalculatorSettings()
    timeout_s: float | None = Field(
        None, gt=0, description="wall-time limit per label (worker-process isolation only)"
    )
    isolation: Literal["process", "inline"] = Field(
        "process", description="run each label in a worker process (survives crashes) or inline"
    )
    ranks_per_label: int = Field(1, ge=1, description="MPI ranks of one label")
    launcher: list[str] | None = Field(
        None, description="command starting a parallel worker; {ranks} is replaced "
                          "(default: mpirun -np {ranks})"
    )
    max_failure_fraction: float = Field(
        0.5, ge=0, le=1, description="stop the campaign when more labels fail in one iteration"
    )

    @model_validator(mode="after")
    def _calculator_path(self) -> OracleConfig:
        if self.kind == "calculator" and not self.calculator.import_path:
            raise ValueError("oracle.kind 'calculator' needs oracle.calculator.import_path "
                             "('module:ClassName')")
        return self


class D3Settings(_Strict):
    """DFT-D3 dispersion (the ``dftd3`` package's ASE calculator) as an additive term."""

    method: str = Field("pbe", description="functional the damping parameters are fitted for")
    damping: Literal["d3bj", "d3zero", "d3bjm", "d3zerom", "d3op"] = "d3bj"


class BaselineConfig(_Strict):
    """A cheap method under the committee (Δ-ML): the committee learns target − baseline."""

    kind: Literal["xtb", "gpaw", "calculator", "emt"]
    xtb: XTBSettings = XTBSettings()
    gpaw: GPAWSettings = GPAWSettings(mode="lcao", basis="dzp")
    calculator: CalculatorSettings = CalculatorSettings()
    emt: EMTSettings = EMTSettings()
    d3: D3Settings | None = Field(None, description="add DFT-D3 dispersion to the baseline")

    @model_validator(mode="after")
    def _calculator_path(self) -> BaselineConfig:
        if self.kind == "calculator" and not self.calculator.import_path:
            raise ValueError("baseline.kind 'calculator' needs baseline.calculator.import_path")
        return self
