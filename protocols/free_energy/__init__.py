"""Free-energy profiles and the coarse-grained transport model they feed.

Modules, lowest first:

* reference systems with exact answers: :mod:`.brownian` (overdamped Langevin
  particles in a known F(z), D(z)), :mod:`.double_well` (an ASE calculator with
  an exact barrier);
* :mod:`.profiles` (:class:`FreeEnergyProfile`, the result type),
  :mod:`.collective_variables` (heights above the electrode plane, distances,
  coordination numbers);
* estimators of F: :mod:`.histogram` (Boltzmann inversion of unbiased MD, block
  errors), :mod:`.restraint` + :mod:`.umbrella` (harmonic-restraint windows, resumable,
  over MPI ranks) + :mod:`.mbar` (MBAR through pymbar 4);
* :mod:`.smoluchowski` (first-passage times, resistance, flux, transition rate
  from F(z) and D(z)) and :mod:`.passages` (the same counted in MD), side by side
  in :mod:`.continuum`;
* :mod:`.interface` (F(z), D⊥(z), D∥(z) of a species above an electrode from one
  trajectory) and :mod:`.plots`.

The position-dependent diffusion coefficients live beside the other transport
estimators, in :mod:`alearn.protocols.transport.local_diffusion`; the electrode
plane in :mod:`alearn.protocols.slab`. Metadynamics through PLUMED is not
offered: the PLUMED kernel cannot be installed on these machines (docs/free_energy.md).
See docs/free_energy.md.
"""

from .brownian import BrownianRun, Landscape, interface_like_landscape, simulate_brownian
from .collective_variables import CollectiveVariable, CoordinationNumber, Distance, HeightAbovePlane
from .continuum import ContinuumNumbers, continuum_numbers
from .double_well import DoubleWell
from .histogram import histogram_profile
from .interface import InterfaceOptions, InterfaceProfiles, followed_atoms, interface_profiles
from .mbar import UmbrellaResult, mbar_profile, umbrella_profile
from .passages import (
    first_passage_times,
    mean_first_passage_fs,
    resistance_from_transitions,
    transition_rate,
)
from .plots import diffusion_figure, free_energy_figure, interface_figure, save_figure
from .profiles import FreeEnergyProfile, bin_edges
from .restraint import HarmonicRestraint
from .smoluchowski import SmoluchowskiModel
from .umbrella import UmbrellaWindows, displaced_starts, read_windows, run_umbrella, window_path

__all__ = [
    "BrownianRun",
    "CollectiveVariable",
    "ContinuumNumbers",
    "CoordinationNumber",
    "Distance",
    "DoubleWell",
    "FreeEnergyProfile",
    "HarmonicRestraint",
    "HeightAbovePlane",
    "InterfaceOptions",
    "InterfaceProfiles",
    "Landscape",
    "SmoluchowskiModel",
    "UmbrellaResult",
    "UmbrellaWindows",
    "bin_edges",
    "continuum_numbers",
    "diffusion_figure",
    "displaced_starts",
    "first_passage_times",
    "followed_atoms",
    "free_energy_figure",
    "histogram_profile",
    "interface_figure",
    "interface_like_landscape",
    "interface_profiles",
    "mbar_profile",
    "mean_first_passage_fs",
    "read_windows",
    "resistance_from_transitions",
    "run_umbrella",
    "save_figure",
    "simulate_brownian",
    "transition_rate",
    "umbrella_profile",
    "window_path",
]
