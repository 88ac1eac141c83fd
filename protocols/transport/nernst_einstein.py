"""Nernst–Einstein conductivity from self-diffusion coefficients (no ion–ion correlations).

``σ_NE = 1/(V kB T) · Σ_s N_s q_s² D_s`` in S/m; the Haven ratio
``H_R = σ_NE / σ`` compares it with a collective conductivity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from alearn.errors import ConfigError

from ..results import Estimate
from ..units import A2_PER_FS_TO_CM2_PER_S, conductivity_s_per_m
from .diffusion import SelfDiffusion


def nernst_einstein(
    diffusion: Mapping[str, SelfDiffusion],
    charges: Mapping[str, float],
    *,
    volume_A3: float,
    temperature_K: float,
) -> Estimate:
    """Nernst–Einstein conductivity ``σ_NE = Σ_s N_s q_s² D_s / (V kB T)`` in S/m.

    When every species has the same number of blocks, σ_NE is computed block
    by block (keeping correlations between species); otherwise the species'
    errors are combined in quadrature.

    Parameters
    ----------
    diffusion
        Self-diffusion results per species (from :func:`self_diffusion`).
    charges
        Charge per species in e; every species in ``diffusion`` needs one.
    volume_A3
        Volume in Å³.
    temperature_K
        Temperature in K.
    """
    missing = [s for s in diffusion if s not in charges]
    if missing:
        raise ConfigError(f"nernst_einstein: no charge for species {missing}; give one in e")
    to_si = conductivity_s_per_m(1.0, volume_A3, temperature_K) / A2_PER_FS_TO_CM2_PER_S
    weights = {s: d.n_atoms * float(charges[s]) ** 2 * to_si for s, d in diffusion.items()}
    n_blocks = {len(d.blocks_cm2_s) for d in diffusion.values()}
    if len(n_blocks) == 1:
        blocks = sum(w * np.asarray(diffusion[s].blocks_cm2_s) for s, w in weights.items())
        return Estimate.from_blocks(blocks)
    value = sum(w * diffusion[s].D_cm2_s.value for s, w in weights.items())
    err = math.sqrt(sum((w * diffusion[s].D_cm2_s.stderr) ** 2 for s, w in weights.items()))
    return Estimate(value, err, 0)
