"""Profiles of one species across an interface from an MD trajectory: F(z), D⊥(z), D∥(z).

:func:`interface_profiles` follows every atom of a species (or given atoms),
measures heights above the electrode plane (:mod:`alearn.protocols.slab`), and
returns the histogram F(z) (:mod:`.histogram`), Hummer's D⊥(z) and the
survivor-MSD D∥(z) (:mod:`alearn.protocols.transport.local_diffusion`), all
with block errors from the same time blocks, in an :class:`InterfaceProfiles`
that saves as JSON and builds the Smoluchowski model
(:meth:`InterfaceProfiles.model`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms

from alearn.errors import ConfigError
from alearn.state import write_json_atomic

from ..results import Estimate, to_jsonable_finite
from ..slab import ElectrodePlane, heights_above_plane
from ..trajectory import MDTrajectory
from ..transport.local_diffusion import (
    DiffusionProfile,
    normal_diffusion_profile,
    parallel_diffusion_profile,
)
from ..transport.readers import resolve_temperature
from .histogram import histogram_profile
from .profiles import FreeEnergyProfile, bin_edges
from .smoluchowski import SmoluchowskiModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InterfaceOptions:
    """Bins, lags and blocks of :func:`interface_profiles`.

    Parameters
    ----------
    bin_width_A
        Width of the F(z) and D⊥(z) bins. Keep ``βF'·Δz ≲ 0.3`` where F is steep.
    z_range_A
        Range binned; default: the sampled heights, rounded out to whole bins.
    n_blocks
        Time blocks for all error bars (>= 2; 5–10).
    lag_frames
        Lag of the transition matrix for D⊥, frames. Choose ``D τ / Δz² ≳ 5`` and τ
        beyond the velocity correlation time; compare two lags on MD data.
    parallel_bin_width_A
        Width of the D∥(z) bins (particles must stay in a bin for the fit lags).
    parallel_fit_lags_frames
        (first, last) lag of the in-plane MSD fit, frames (start after the ballistic part).
    bulk_range_A
        Heights of the bulk-like middle: F is set to 0 there and the D plateaus are
        averaged there. None: F has its minimum at 0 and no plateau is reported.
    """

    bin_width_A: float = 0.1
    z_range_A: tuple[float, float] | None = None
    n_blocks: int = 5
    lag_frames: int = 1
    parallel_bin_width_A: float = 0.5
    parallel_fit_lags_frames: tuple[int, int] = (1, 5)
    bulk_range_A: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.bin_width_A <= 0 or self.parallel_bin_width_A <= 0 or self.n_blocks < 2 \
                or self.lag_frames < 1:
            raise ConfigError("InterfaceOptions: bin widths must be > 0, n_blocks >= 2 and "
                              "lag_frames >= 1")


@dataclass(frozen=True)
class InterfaceProfiles:
    """F(z), D⊥(z) and D∥(z) of one species above an electrode plane.

    Parameters
    ----------
    label
        What was followed (a species symbol or ``"atoms [..]"``).
    n_atoms
        Number of atoms followed.
    source
        The trajectory.
    temperature_K
        Temperature in K.
    free_energy
        F(z) (zero in the bulk range when one was given).
    diffusion_normal, diffusion_parallel
        D⊥(z) and D∥(z).
    bulk_range_A
        The bulk range, or None.
    """

    label: str
    n_atoms: int
    source: str
    temperature_K: float
    free_energy: FreeEnergyProfile
    diffusion_normal: DiffusionProfile
    diffusion_parallel: DiffusionProfile
    bulk_range_A: tuple[float, float] | None = None

    def model(self) -> SmoluchowskiModel:
        """The Smoluchowski model from F(z) and D⊥(z)."""
        return SmoluchowskiModel(self.free_energy, self.diffusion_normal)

    def plateaus_A2_fs(self) -> dict[str, Estimate] | None:
        """Mean D⊥ and D∥ over the bulk range (Å²/fs), or None without one.

        A direction whose profile has no point inside the range is left out (logged).
        """
        if self.bulk_range_A is None:
            return None
        out = {}
        for name, prof in (("normal", self.diffusion_normal),
                           ("parallel", self.diffusion_parallel)):
            try:
                out[name] = prof.plateau(self.bulk_range_A)
            except ConfigError as err:
                log.warning("%s: no %s D plateau: %s", self.label, name, err)
        return out

    def summary(self) -> dict[str, Any]:
        """The headline numbers (JSON-ready): the deepest well, and with a bulk range its
        depth below the bulk, the desorption barrier (highest F between the well and the
        bulk, minus the well) and the D plateaus, each with its standard error."""
        f = self.free_energy
        well = int(np.nanargmin(f.F_eV))
        z_well = float(f.centers[well])
        out: dict[str, Any] = {"label": self.label, "n_atoms": self.n_atoms,
                               "sampled_range_A": f.sampled_range(), "well_z_A": z_well}
        if self.bulk_range_A is not None and z_well < self.bulk_range_A[0]:
            half = 0.5 * (f.bin_edges[1] - f.bin_edges[0])
            barrier = f.difference((z_well - half, z_well + half), (z_well, self.bulk_range_A[0]))
            depth = Estimate(float(f.F_eV[well]), float(f.stderr_eV[well]))
            out.update({
                "well_depth_eV": depth.to_dict(), "well_depth_kT": depth.scaled(
                    1 / f.kT_eV).to_dict(),
                "desorption_barrier_eV": barrier.to_dict(),
                "desorption_barrier_kT": barrier.scaled(1 / f.kT_eV).to_dict()})
        plateaus = self.plateaus_A2_fs()
        if plateaus is not None:
            out["plateaus_A2_fs"] = {k: v.to_dict() for k, v in plateaus.items()}
        return to_jsonable_finite(out)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        plateaus = self.plateaus_A2_fs()
        return to_jsonable_finite({
            "label": self.label, "n_atoms": self.n_atoms, "source": self.source,
            "temperature_K": self.temperature_K, "bulk_range_A": self.bulk_range_A,
            "summary": self.summary(), "free_energy": self.free_energy.to_dict(),
            "diffusion_normal": self.diffusion_normal.to_dict(),
            "diffusion_parallel": self.diffusion_parallel.to_dict(),
            "plateaus_A2_fs": None if plateaus is None else {k: v.to_dict()
                                                             for k, v in plateaus.items()}})

    def to_json(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_dict` to ``path`` atomically."""
        write_json_atomic(path, self.to_dict())


def followed_atoms(reference: Atoms, species: str | None = None,
                   indices: tuple[int, ...] | None = None) -> tuple[np.ndarray, str]:
    """Indices of the atoms to follow and a label, from a species or explicit indices."""
    if (species is None) == (indices is None):
        raise ConfigError("give either species or indices of the atoms to follow")
    if species is not None:
        idx = np.flatnonzero(np.asarray(reference.get_chemical_symbols()) == species)
        if idx.size == 0:
            raise ConfigError(f"no {species} atom in the structure "
                              f"({reference.get_chemical_formula()})")
        return idx, species
    return np.asarray(indices, dtype=int), f"atoms {list(indices)}"


def interface_profiles(
    traj: MDTrajectory,
    reference: Atoms,
    plane: ElectrodePlane,
    *,
    species: str | None = None,
    indices: tuple[int, ...] | None = None,
    temperature_K: float | None = None,
    options: InterfaceOptions | None = None,
) -> InterfaceProfiles:
    """F(z), D⊥(z), D∥(z) of the followed atoms, with block errors.

    Parameters
    ----------
    traj
        Interface MD (see :func:`alearn.protocols.load_trajectory`), equilibration removed.
    reference
        A structure of the same atoms (e.g. the trajectory's first frame), used to
        resolve the species, tags and electrode atoms.
    plane
        The electrode plane.
    species, indices
        The atoms to follow: all atoms of a species (e.g. ``"Li"``, ``"O"`` for
        water oxygens) or explicit indices.
    temperature_K
        Temperature; default: the one recorded in the trajectory.
    options
        Bins, lags, blocks, bulk range.

    Returns
    -------
    InterfaceProfiles
    """
    options = options or InterfaceOptions()
    temp = resolve_temperature(traj, temperature_K)
    idx, label = followed_atoms(reference, species, indices)
    z = heights_above_plane(traj, idx, plane, reference)
    lo, hi = options.z_range_A or (float(z.min()), float(z.max()))
    width = options.bin_width_A
    edges = bin_edges(np.floor(lo / width) * width, np.ceil(hi / width) * width + 1e-9, width)
    free = histogram_profile(z, bin_edges=edges, temperature_K=temp, n_blocks=options.n_blocks,
                             cv=f"height of {label} above the electrode plane (Å)")
    if options.bulk_range_A is not None:
        free = free.shifted(options.bulk_range_A)
    normal = normal_diffusion_profile(z, traj.frame_interval_fs, bin_edges_A=edges,
                                      lag_frames=options.lag_frames, n_blocks=options.n_blocks)
    pw = options.parallel_bin_width_A
    par_edges = bin_edges(edges[0], edges[-1], pw)
    parallel = parallel_diffusion_profile(z, traj.positions_A[:, idx, :2], traj.frame_interval_fs,
                                          bin_edges_A=par_edges,
                                          fit_lags_frames=options.parallel_fit_lags_frames,
                                          n_blocks=options.n_blocks)
    log.info("%s: %d atoms of %s, heights %.3g–%.3g Å", traj.source, idx.size, label, z.min(),
             z.max())
    return InterfaceProfiles(label, int(idx.size), traj.source, temp, free, normal, parallel,
                             options.bulk_range_A)
