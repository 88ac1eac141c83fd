"""Unit conversions used by the transport protocols.

Internal units follow ASE where possible: lengths in Å, times in fs, charges in
units of the elementary charge e, energies in eV, temperatures in K, masses in
amu. Results are reported in SI (S/m, m²/s) and in the units electrochemists
quote (mS/cm, cm²/s).
"""

from __future__ import annotations

from ase import units as _ase_units

#: Boltzmann constant, eV/K (ASE's value, CODATA 2014).
KB_EV_PER_K: float = float(_ase_units.kB)

#: Elementary charge, C (SI exact).
ELEMENTARY_CHARGE_C: float = 1.602176634e-19

#: One Å²/fs expressed in cm²/s.
A2_PER_FS_TO_CM2_PER_S: float = 1e-16 / 1e-15

#: One Å²/fs expressed in m²/s.
A2_PER_FS_TO_M2_PER_S: float = 1e-20 / 1e-15

#: One S/m expressed in mS/cm.
S_PER_M_TO_MS_PER_CM: float = 10.0

#: One e·Å·fs⁻¹·Å⁻³ (charge current density) expressed in A/m².
CURRENT_DENSITY_TO_A_PER_M2: float = ELEMENTARY_CHARGE_C * 1e-10 / 1e-15 / 1e-30

#: One V/Å expressed in V/m.
V_PER_A_TO_V_PER_M: float = 1e10

#: One amu·Å²/fs² expressed in eV (kinetic energies from velocities in Å/fs).
AMU_A2_PER_FS2_TO_EV: float = 1.0 / float(_ase_units.fs) ** 2

#: Multiply an ASE velocity (Å per ASE time unit) by this to get Å/fs.
ASE_VELOCITY_TO_A_PER_FS: float = float(_ase_units.fs)


def conductivity_s_per_m(x_e2a2_per_fs: float, volume_a3: float, temperature_k: float) -> float:
    """Convert ``x / (V kB T)`` to a conductivity in S/m.

    Every conductivity formula used here has the form σ = X / (V kB T), with
    X in e² Å² fs⁻¹ (for example X = slope/6 of the charge-displacement MSD,
    or Σ_s N_s q_s² D_s).

    Parameters
    ----------
    x_e2a2_per_fs
        X in e² Å² fs⁻¹.
    volume_a3
        Cell volume V in Å³.
    temperature_k
        Temperature T in K.

    Returns
    -------
    float
        σ in S/m.
    """
    kbt_ev = KB_EV_PER_K * temperature_k
    # e² Å² fs⁻¹ / (Å³ eV) = e [C] · 1e-20 m² / 1e-15 s / 1e-30 m³ / V = e·1e25 S/m
    return x_e2a2_per_fs * ELEMENTARY_CHARGE_C * 1e25 / (volume_a3 * kbt_ev)
