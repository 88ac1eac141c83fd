"""Settings of thermodynamic integration along the coupling parameter λ."""

from __future__ import annotations

from dataclasses import dataclass

from alearn.errors import ConfigError

from ..md import MDOptions

__all__ = ["TIOptions"]


@dataclass(frozen=True)
class TIOptions:
    """How the λ windows are sampled and analysed.

    Parameters
    ----------
    md
        MD of each window (:class:`~alearn.protocols.MDOptions`); ``n_steps``
        counts the equilibration too. Window i runs with seed
        ``md.seed + 1000 (i + 1)``. Langevin (``thermostat="langevin"``) or
        Bussi sample the canonical ensemble that the integration needs.
    equilibration_steps
        Steps at the start of each window left out of its averages.
    n_nodes
        Gauss–Legendre nodes in (0, 1) (default 5: exact for ⟨ΔE⟩_λ up to degree 9).
    endpoints
        Also sample λ = 0 and 1: the vertical energies, the reorganisation
        energy and the frames of the end-state corrections come from them.
    n_blocks
        Blocks per window for the standard error of ⟨ΔE⟩_λ (each block should
        be longer than the correlation time of ΔE).
    linearity_alpha
        ⟨ΔE⟩_λ is flagged as not linear when the χ² test of a straight line
        through the windows gives a p-value below this.
    chain
        Start each window from the last frame (positions and momenta) of the
        window before it (λ ascending), which shortens equilibration; False:
        every window starts from the given structure.
    max_spread_eV_A
        A window whose committees' larger force spread exceeds this on any
        production frame is flagged as extrapolating (its ⟨ΔE⟩_λ is not to be
        trusted; its frames belong in the campaign's data); the campaign's
        ``uncertainty.hi`` is the natural value. None: no check.
    """

    md: MDOptions
    equilibration_steps: int = 0
    n_nodes: int = 5
    endpoints: bool = True
    n_blocks: int = 5
    linearity_alpha: float = 0.01
    chain: bool = True
    max_spread_eV_A: float | None = 1.0

    def __post_init__(self) -> None:
        production = self.md.n_steps - self.equilibration_steps
        frames = production // self.md.interval_steps
        if self.n_nodes < 1 or self.n_blocks < 2 or self.equilibration_steps < 0:
            raise ConfigError(f"TIOptions: n_nodes={self.n_nodes} must be >= 1, n_blocks="
                              f"{self.n_blocks} >= 2 and equilibration_steps >= 0")
        if frames < 2 * self.n_blocks:
            raise ConfigError(
                f"TIOptions: {frames} frames per window after equilibration (md.n_steps="
                f"{self.md.n_steps} − equilibration_steps={self.equilibration_steps}, every "
                f"{self.md.interval_steps}) are too few for {self.n_blocks} blocks; sample "
                "longer or write frames more often")
        if not 0.0 < self.linearity_alpha < 1.0:
            raise ConfigError(f"TIOptions: linearity_alpha={self.linearity_alpha} must lie "
                              "in (0, 1)")
