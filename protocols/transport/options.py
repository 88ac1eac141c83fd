"""Options of the equilibrium transport analysis (blocks, fit windows, drift removal)."""

from __future__ import annotations

from dataclasses import dataclass

from alearn.errors import ConfigError

from .fitting import FitWindow


@dataclass(frozen=True)
class TransportOptions:
    """Options of the equilibrium transport analysis.

    Parameters
    ----------
    n_blocks
        Number of independent contiguous blocks for the error bars (>= 2).
        Each block should be much longer than the fit window end.
    diffusion_window
        MSD fit window for all species; None detects one per species.
    eh_window
        Fit window of the charge-displacement MSD (Einstein–Helfand); None uses
        the latest start among the detected windows of the charged species.
    gk_window
        Window over which the Green–Kubo running integral is averaged (its
        plateau); None uses the Einstein–Helfand window.
    max_lag_fraction
        Auto-detected windows end at most at this fraction of the block
        duration (linearity is checked up to there).
    window_span
        Auto-detected windows end at most at ``window_span`` times their start
        (one decade by default): beyond the onset of diffusion a longer window
        only adds noise, which matters most for collective quantities.
    linearity_tolerance
        Allowed relative deviation of the MSD's local slope from its late
        value when detecting a window (see :func:`detect_linear_regime`).
    remove_com_drift
        Subtract the centre-of-mass displacement of the whole system from all
        positions (and its velocity from all velocities) before analysis.
    """

    n_blocks: int = 5
    diffusion_window: FitWindow | None = None
    eh_window: FitWindow | None = None
    gk_window: FitWindow | None = None
    max_lag_fraction: float = 0.2
    window_span: float = 10.0
    linearity_tolerance: float = 0.05
    remove_com_drift: bool = True

    def __post_init__(self) -> None:
        if self.n_blocks < 2:
            raise ConfigError(f"TransportOptions.n_blocks={self.n_blocks}: need at least 2")
        if not 0.0 < self.max_lag_fraction <= 0.5:
            raise ConfigError(
                f"TransportOptions.max_lag_fraction={self.max_lag_fraction}: must be in (0, 0.5]"
            )
        if self.window_span <= 1.0:
            raise ConfigError(f"TransportOptions.window_span={self.window_span}: must be > 1")
