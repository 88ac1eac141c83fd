"""Ionic conductivity benchmark: molten LiF with a classical test potential.

System: 64 ions (Li32F32) at the experimental density of molten LiF at
1300 K (1.721 g/cm³), T = 1300 K (LiF melts at 1121 K).

Potential (a *test potential*, not part of alearn): rigid-ion
Born–Mayer–Huggins with Tosi–Fumi-type LiF parameters (repulsion
``c_ij b exp((σ_i + σ_j - r)/ρ)`` with Pauling factors, dispersion
``-C/r⁶ - D/r⁸``) plus Coulomb by the damped shifted force (DSF) method of
Fennell & Gezelter (JCP 124, 234104, 2006; α = 0.2 Å⁻¹, r_c = 9 Å),
formal charges ±1 e. It is cheap (vectorised NumPy, Verlet list) and gives
a molten salt with realistic magnitudes, nothing more: compare the
estimators with each other, not with experiment.

Measured, side by side with one standard error each:

* self-diffusion D(Li), D(F) (Einstein, block averaging),
* σ Einstein–Helfand, σ Green–Kubo, σ Nernst–Einstein, Haven ratio (equilibrium MD),
* σ from field-driven MD at a small field (peculiar-velocity Bussi thermostat),
* analysis time of :func:`alearn.protocols.analyze_transport` per 10⁵ frames of 100 atoms.

Prints one JSON line at the end. Figures go to ``--figures`` (docs/img by default).

Run (about 5 min on 2 shared cores)::

    OMP_NUM_THREADS=1 python benchmarks/conductivity.py --workdir /tmp/bench_cond
"""

from __future__ import annotations

import argparse
import logging
import math
import tempfile
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.io import read

from alearn.protocols import (
    MDOptions,
    MDTrajectory,
    NEMDOptions,
    analyze_transport,
    load_trajectory,
    nemd_conductivity,
    plot_green_kubo,
    plot_msd,
    plot_nemd,
    run_md,
)

try:  # C neighbour list (matscipy comes with mace-torch); ASE's is slow for small cells
    from matscipy.neighbours import neighbour_list as neighbor_list
except ImportError:  # pragma: no cover
    from ase.neighborlist import neighbor_list
from scipy.special import erfc

log = logging.getLogger("conductivity_benchmark")

COULOMB_EV_A = 14.399645478425668  # e²/(4π ε0) in eV·Å
CHARGES = {"Li": 1.0, "F": -1.0}
J_M6_TO_EV_A6 = 1e60 / 1.602176634e-19  # 1 J·m⁶ in eV·Å⁶
J_M8_TO_EV_A8 = 1e80 / 1.602176634e-19


class IonicPairTestPotential(Calculator):
    """Test potential: Born–Mayer–Huggins + dispersion + DSF Coulomb, all shifted-force at r_c.

    Parameters
    ----------
    charges
        Charge per species in e.
    pair
        Per unordered species pair ``(a, b)`` (sorted): ``(A, rho, C, D)`` with
        ``φ(r) = A exp(-r/rho) - C/r⁶ - D/r⁸`` (eV, Å).
    cutoff
        Cut-off r_c in Å for every term.
    alpha
        DSF damping parameter in 1/Å.
    skin
        Verlet-list skin in Å (the list is rebuilt after any atom moved skin/2).
    """

    implemented_properties = ["energy", "forces"]

    def __init__(self, charges: dict[str, float], pair: dict[tuple[str, str], tuple],
                 cutoff: float = 9.0, alpha: float = 0.2, skin: float = 1.0) -> None:
        super().__init__()
        self.charges, self.pair = dict(charges), dict(pair)
        self.cutoff, self.alpha, self.skin = cutoff, alpha, skin
        self._list = None  # (i, j, shifts, reference positions, cell)

    def _neighbours(self, atoms: Atoms) -> dict[str, np.ndarray]:
        """Half Verlet list within r_c + skin, with per-pair constants; rebuilt when needed."""
        pos, cell = atoms.positions, atoms.cell.array
        if self._list is not None:
            moved = np.linalg.norm(pos - self._list["ref"], axis=1).max()
            if moved < 0.5 * self.skin and np.allclose(cell, self._list["cell"]):
                return self._list
        i, j, s = neighbor_list("ijS", atoms, self.cutoff + self.skin)
        # half list: one of (i, j, S) / (j, i, -S); self-images kept once
        first = np.take_along_axis(s, np.argmax(s != 0, axis=1)[:, None], axis=1)[:, 0]
        keep = (i < j) | ((i == j) & (first > 0))
        i, j = i[keep], j[keep]
        symbols = atoms.get_chemical_symbols()
        q = np.array([self.charges[x] for x in symbols])
        params = np.array([self.pair[tuple(sorted((symbols[a], symbols[b])))]
                           for a, b in zip(i, j, strict=True)]).T if i.size else np.zeros((4, 0))
        self._list = {"i": i, "j": j, "shift": s[keep] @ cell, "ref": pos.copy(),
                      "cell": cell.copy(), "qq": COULOMB_EV_A * q[i] * q[j], "q2": np.sum(q**2),
                      "params": params, "at_rc": self._short(np.full(i.size, self.cutoff), params)}
        return self._list

    @staticmethod
    def _short(r: np.ndarray, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Short-range energy and -dφ/dr (eV, eV/Å)."""
        a_rep, rho, c6, d8 = params
        rep = a_rep * np.exp(-r / rho)
        inv2 = 1.0 / (r * r)
        inv6 = inv2 * inv2 * inv2
        return (rep - c6 * inv6 - d8 * inv6 * inv2,
                rep / rho - (6 * c6 * inv6 + 8 * d8 * inv6 * inv2) / r)

    def _phi(self, r: np.ndarray, nl: dict[str, np.ndarray], inside: np.ndarray):
        """Pair energy and -dφ/dr, every term shifted-force at r_c (DSF for Coulomb)."""
        rc, al = self.cutoff, self.alpha
        e_sr, f_sr = self._short(r, nl["params"][:, inside])
        e_c, f_c = nl["at_rc"][0][inside], nl["at_rc"][1][inside]
        fc_rc = erfc(al * rc) / rc**2 + 2 * al / math.sqrt(math.pi) * math.exp(-(al * rc) ** 2) / rc
        damped = erfc(al * r) / r
        e_coul = damped - erfc(al * rc) / rc + fc_rc * (r - rc)
        f_coul = damped / r + 2 * al / math.sqrt(math.pi) * np.exp(-(al * r) ** 2) / r - fc_rc
        qq = nl["qq"][inside]
        return (e_sr - e_c + f_c * (r - rc) + qq * e_coul, f_sr - f_c + qq * f_coul)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        nl = self._neighbours(self.atoms)
        pos = self.atoms.positions
        vec = pos[nl["j"]] + nl["shift"] - pos[nl["i"]]
        r = np.sqrt(np.einsum("pk,pk->p", vec, vec))
        inside = r < self.cutoff
        i, j, vec, r = nl["i"][inside], nl["j"][inside], vec[inside], r[inside]
        energy, fmag = self._phi(r, nl, inside)
        fvec = (fmag / r)[:, None] * vec  # force on j from i
        n = len(self.atoms)
        forces = np.stack([np.bincount(j, fvec[:, k], n) - np.bincount(i, fvec[:, k], n)
                           for k in range(3)], axis=1)
        al, rc = self.alpha, self.cutoff
        self_energy = -COULOMB_EV_A * (erfc(al * rc) / (2 * rc) + al / math.sqrt(math.pi))
        self.results = {"energy": float(energy.sum() + self_energy * nl["q2"]), "forces": forces}


def lif_test_potential() -> IonicPairTestPotential:
    """LiF with Tosi–Fumi-type BMH parameters (b = 0.338e-19 J, ρ = 0.299 Å, σ_Li = 0.816 Å,
    σ_F = 1.179 Å, Pauling factors with n_Li = 2, n_F = 8; Mayer's C and D)."""
    b_ev, rho = 0.338e-19 / 1.602176634e-19, 0.299
    sigma = {"Li": 0.816, "F": 1.179}
    pauling = {("Li", "Li"): 2.0, ("F", "Li"): 1.375, ("F", "F"): 0.75}
    c6 = {("Li", "Li"): 0.073e-79, ("F", "Li"): 0.8e-79, ("F", "F"): 14.5e-79}
    d8 = {("Li", "Li"): 0.03e-99, ("F", "Li"): 0.6e-99, ("F", "F"): 17.0e-99}
    pair = {}
    for key, c in pauling.items():
        a_rep = c * b_ev * math.exp((sigma[key[0]] + sigma[key[1]]) / rho)
        pair[key] = (a_rep, rho, c6[key] * J_M6_TO_EV_A6, d8[key] * J_M8_TO_EV_A8)
    return IonicPairTestPotential(CHARGES, pair)


def molten_lif(density_g_cm3: float = 1.721) -> Atoms:
    """64-ion rock-salt LiF scaled to the given density (g/cm³)."""
    atoms = bulk("LiF", "rocksalt", a=4.03, cubic=True).repeat((2, 2, 2))
    mass_g = atoms.get_masses().sum() * 1.66053906660e-24
    length = (mass_g / density_g_cm3 * 1e24) ** (1.0 / 3.0)  # Å
    atoms.set_cell([length] * 3, scale_atoms=True)
    return atoms


def melted_lif() -> Atoms:
    """:func:`molten_lif` melted at 3000 K for 2 ps with the test potential (a start structure)."""
    with tempfile.TemporaryDirectory() as tmp:
        hot = MDOptions(temperature_K=3000.0, timestep_fs=1.0, n_steps=2000, interval_steps=500,
                        thermostat_time_fs=50.0, seed=1)
        run_md(molten_lif(), lif_test_potential(), Path(tmp) / "melt.traj", options=hot)
        return read(Path(tmp) / "melt.traj", index=-1)


def equilibrate(workdir: Path, temperature_K: float, calc: Calculator) -> Atoms:
    """Melt at 3000 K (2 ps), then equilibrate at the target temperature (3 ps)."""
    hot = MDOptions(temperature_K=3000.0, timestep_fs=1.0, n_steps=2000, interval_steps=500,
                    thermostat_time_fs=50.0, seed=1)
    run_md(molten_lif(), calc, workdir / "melt.traj", options=hot)
    melt = read(workdir / "melt.traj", index=-1)
    eq = MDOptions(temperature_K=temperature_K, timestep_fs=1.0, n_steps=3000, interval_steps=500,
                   thermostat_time_fs=50.0, seed=2)
    run_md(melt, calc, workdir / "equilibrate.traj", options=eq)
    return read(workdir / "equilibrate.traj", index=-1)


def analysis_time_per_1e5_frames(n_frames: int = 100_000, n_atoms: int = 100) -> float:
    """Wall time (s) of analyze_transport on 10⁵ frames × 100 atoms of random-walk data."""
    rng = np.random.default_rng(0)
    vel = rng.normal(0, 0.01, (n_frames, n_atoms, 3)).astype(float)
    pos = np.cumsum(vel, axis=0) * 2.0
    symbols = ["Li"] * (n_atoms // 2) + ["F"] * (n_atoms - n_atoms // 2)
    traj = MDTrajectory.from_arrays(symbols, pos, np.eye(3) * 15.0, frame_interval_fs=2.0,
                                    velocities_A_fs=vel, temperature_K=1000.0, unwrap=False)
    del pos, vel
    start = time.perf_counter()
    analyze_transport(traj, CHARGES)
    return time.perf_counter() - start


def _est(e) -> list[float]:
    return [round(e.value, 6 - int(math.floor(math.log10(abs(e.value) + 1e-300)))),
            float(f"{e.stderr:.3g}")]


def run_equilibrium(args: argparse.Namespace, start: Atoms, calc: Calculator):
    """40 ps (default) of NVT MD and its transport analysis; returns (result, ms per step)."""
    emd = MDOptions(temperature_K=args.temperature, timestep_fs=1.0,
                    n_steps=int(args.emd_ps * 1000), interval_steps=4, thermostat="bussi",
                    thermostat_time_fs=500.0, seed=3)
    t0 = time.perf_counter()
    done = run_md(start, calc, args.workdir / "emd.traj", options=emd)
    ms_per_step = (time.perf_counter() - t0) / max(1, done.final_step - done.start_step) * 1e3
    result = analyze_transport(load_trajectory(args.workdir / "emd.traj"), CHARGES)
    result.to_json(args.workdir / "emd_result.json")
    return result, ms_per_step


def run_field_driven(args: argparse.Namespace, start: Atoms, calc: Calculator):
    """One field-driven run per field strength and the linear-response check."""
    md = MDOptions(temperature_K=args.temperature, timestep_fs=1.0,
                   n_steps=int(args.nemd_ps * 1000), interval_steps=20,
                   thermostat="peculiar_bussi", thermostat_time_fs=100.0, seed=4)
    nemd = nemd_conductivity(start, calc, CHARGES, args.workdir, field_strengths_V_A=args.fields,
                             md_options=md, options=NEMDOptions(discard_fs=2000.0))
    nemd.to_json(args.workdir / "nemd_result.json")
    return nemd


def summary(args, result, nemd, ms_per_step: float, t_analysis: float, wall: float) -> dict:
    """The figures of the JSON line."""
    return {
        "system": "molten LiF, 64 ions, BMH+DSF test potential",
        "temperature_K": args.temperature, "volume_A3": round(result.volume_A3, 2),
        "emd_ps": args.emd_ps, "frame_interval_fs": result.frame_interval_fs,
        "n_blocks": result.n_blocks,
        "D_Li_cm2_s": _est(result.diffusion["Li"].D_cm2_s),
        "D_F_cm2_s": _est(result.diffusion["F"].D_cm2_s),
        "sigma_EH_S_m": _est(result.einstein_helfand.sigma_S_m),
        "sigma_GK_S_m": _est(result.green_kubo.sigma_S_m),
        "sigma_NE_S_m": _est(result.nernst_einstein_S_m),
        "haven_ratio": _est(result.haven_ratio),
        "nemd_fields_V_A": [r.field_strength_V_A for r in nemd.responses],
        "sigma_NEMD_S_m": [_est(r.sigma_S_m) for r in nemd.responses],
        "sigma_NEMD_small_field_S_m": _est(nemd.responses[0].sigma_S_m),
        "nemd_T_peculiar_K": [round(r.temperature_K, 1) for r in nemd.responses],
        "nemd_breakdown_field_V_A": nemd.breakdown_field_V_A,
        "nemd_ps_per_field": args.nemd_ps,
        "md_ms_per_step": round(ms_per_step, 3),
        "analysis_s_per_1e5_frames_100_atoms": round(t_analysis, 2),
        "wall_s": round(wall, 1),
    }


def main() -> None:
    # imported here, not at the top: examples/conductivity_*.py load this file by path
    # for melted_lif and lif_test_potential, without benchmarks/ on sys.path
    from result_line import emit

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("bench_conductivity"))
    parser.add_argument("--figures", type=Path, default=Path("docs/img"))
    parser.add_argument("--temperature", type=float, default=1300.0, help="K")
    parser.add_argument("--emd-ps", type=float, default=40.0, help="equilibrium production, ps")
    parser.add_argument("--nemd-ps", type=float, default=15.0, help="per field, ps")
    parser.add_argument("--fields", type=float, nargs="+", default=[0.05, 0.1, 0.2], help="V/Å")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args.workdir.mkdir(parents=True, exist_ok=True)
    wall = time.perf_counter()
    calc = lif_test_potential()
    start = equilibrate(args.workdir, args.temperature, calc)
    result, ms_per_step = run_equilibrium(args, start, calc)
    print(result)
    nemd = run_field_driven(args, start, calc)
    print(nemd)
    plot_msd(result, args.figures / "conductivity_msd.png")
    plot_green_kubo(result.green_kubo, args.figures / "conductivity_green_kubo.png",
                    einstein_helfand=result.einstein_helfand.sigma_S_m)
    plot_nemd(nemd, args.figures / "conductivity_nemd.png",
              equilibrium=result.einstein_helfand.sigma_S_m)
    t_analysis = analysis_time_per_1e5_frames()
    emit(summary(args, result, nemd, ms_per_step, t_analysis, time.perf_counter() - wall),
         __file__)


if __name__ == "__main__":
    main()
