"""Choice of fit windows: the user's, a detected one, or a flagged fallback.

``"user"``, ``"auto"`` and ``"fallback"`` label where a window came from; the
estimators carry that label into their results.
"""

from __future__ import annotations

import logging

import numpy as np

from .fitting import FitWindow, detect_linear_regime
from .options import TransportOptions

log = logging.getLogger(__name__)


def choose_window(lag_fs: np.ndarray, msd: np.ndarray, user: FitWindow | None, *, end_fs: float,
                  options: TransportOptions, what: str) -> tuple[FitWindow, str]:
    """The user's window if given, else a detected one, else a flagged fallback.

    A detected window ``[t_s, t_e]`` is shortened to end at
    ``min(t_e, options.window_span * t_s)`` (but keeps at least 4 frames).

    Returns
    -------
    window, source : FitWindow, str
        ``source`` is ``"user"``, ``"auto"`` or ``"fallback"``.
    """
    if user is not None:
        return user, "user"
    found = detect_linear_regime(lag_fs, msd, end_fs=end_fs, tolerance=options.linearity_tolerance)
    if found is not None:
        end = min(found.end_fs, max(options.window_span * found.start_fs,
                                    found.start_fs + 4 * float(lag_fs[1])))
        return FitWindow(found.start_fs, end), "auto"
    window = FitWindow(0.5 * end_fs, end_fs)
    log.warning("%s: no linear (diffusive) regime found up to %.4g fs; fitting the fallback window "
                "[%.4g, %.4g] fs. Run longer or set the window explicitly.", what, end_fs,
                window.start_fs, window.end_fs)
    return window, "fallback"


def collective_window(user: FitWindow | None, default: tuple[FitWindow, str] | None,
                      lag_fs: np.ndarray, curves: np.ndarray, options: TransportOptions,
                      what: str) -> tuple[FitWindow, str]:
    """Window of a collective quantity: the user's, else ``default``, else detected on ``curves``.

    Parameters
    ----------
    user
        Window set in the options, or None.
    default
        Window and its source label handed down by the caller, or None.
    lag_fs
        Lags in fs, shape (L,).
    curves
        Per-block curves, shape (n_blocks, L); detection runs on their mean.
    options
        Detection settings.
    what
        Name of the quantity, used in warnings.
    """
    if user is not None:
        return user, "user"
    if default is not None:
        return default
    return choose_window(lag_fs, curves.mean(axis=0), None,
                         end_fs=options.max_lag_fraction * lag_fs[-1], options=options, what=what)

