"""A thermostat for field-driven MD that leaves the ionic drift alone.

Under an electric field each species acquires a streaming (drift) velocity.
An ordinary thermostat acts on the full velocities and so damps that drift,
lowering the measured current. :class:`PeculiarBussi` applies Bussi's
stochastic velocity rescaling (CSVR) to the *peculiar* velocities only,
``v_i - u_s``, where ``u_s`` is the mass-weighted mean velocity of atom i's
group (by default its chemical species):

* the drift ``u_s`` of every species is untouched, so the current is not damped;
* the Joule heat is removed from all three directions (a thermostat acting only
  perpendicular to the field would leave the field direction to heat up
  until collisions equilibrate it, which fails at strong fields);
* a global rescaling perturbs the microscopic dynamics far less than a
  per-atom Langevin friction (Bussi, Donadio, Parrinello, JCP 126, 014101, 2007).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.md.bussi import Bussi


class PeculiarBussi(Bussi):
    """Bussi velocity rescaling of the velocities relative to each group's drift.

    Parameters
    ----------
    atoms
        The system, with momenta set (non-zero kinetic energy).
    timestep
        Time step in ASE time units.
    temperature_K
        Target temperature in K.
    taut
        Relaxation time in ASE time units.
    groups
        Group label per atom (length N); the drift is removed per group.
        Defaults to the chemical symbols.
    rng
        ``numpy.random.Generator`` for the stochastic term.
    **kwargs
        Passed on to :class:`ase.md.bussi.Bussi`.
    """

    def __init__(self, atoms: Atoms, timestep: float, temperature_K: float, taut: float, *,
                 groups: Sequence[str] | None = None, rng: np.random.Generator | None = None,
                 **kwargs) -> None:
        super().__init__(atoms, timestep, temperature_K, taut, rng=rng, **kwargs)
        labels = list(groups) if groups is not None else atoms.get_chemical_symbols()
        if len(labels) != len(atoms):
            raise ValueError(f"PeculiarBussi: {len(labels)} group labels for {len(atoms)} atoms")
        _, self._group_of = np.unique(labels, return_inverse=True)
        self._n_groups = int(self._group_of.max()) + 1
        self.ndof = atoms.get_number_of_degrees_of_freedom() - 3 * self._n_groups
        if self.ndof < 2:
            raise ValueError("PeculiarBussi: fewer than 2 peculiar degrees of freedom; "
                             "use fewer groups or more atoms")
        self.target_kinetic_energy = 0.5 * self.temp * self.ndof

    def streaming_velocities(self) -> np.ndarray:
        """Mass-weighted mean velocity of each atom's group, ASE units, shape (N, 3)."""
        p = self.atoms.get_momenta()
        m = self.atoms.get_masses()
        mom = np.zeros((self._n_groups, 3))
        np.add.at(mom, self._group_of, p)
        mass = np.bincount(self._group_of, weights=m, minlength=self._n_groups)
        return (mom / mass[:, None])[self._group_of]

    def peculiar_kinetic_energy(self) -> float:
        """Kinetic energy of the velocities relative to the group drifts, eV."""
        m = self.atoms.get_masses()[:, None]
        pec = self.atoms.get_momenta() - m * self.streaming_velocities()
        return float(0.5 * np.sum(pec**2 / m))

    def scale_velocities(self) -> None:
        """Rescale the peculiar momenta by Bussi's stochastic factor; drifts unchanged."""
        m = self.atoms.get_masses()[:, None]
        stream = m * self.streaming_velocities()
        peculiar = self.atoms.get_momenta() - stream
        kinetic = float(0.5 * np.sum(peculiar**2 / m))
        alpha = self.calculate_alpha(kinetic)
        self.atoms.set_momenta(stream + alpha * peculiar)
        self.transferred_energy += (alpha**2 - 1.0) * kinetic
