"""Is the final committee of an example campaign usable? (issue 17)

For each example in ``examples/<name>/campaign_xtb.yaml`` (test-sized: the
GFN1-xTB test oracle stands in for DFT), or its GPAW version
(``--oracle gpaw``: ``campaign_gpaw.yaml``):

1. run (or resume) the campaign; record iterations, labels, wall time split
   (train / explore / label, from the stage markers);
2. production MD with the final committee at the example's target condition
   (its ensemble, the campaign's timestep): ``stable_ps`` is the time until a
   structure breaks or the committee spread reaches ``hi`` (the whole run if
   neither happens);
3. held-out frames: ``--heldout`` frames of that production run, labeled by the
   oracle directly (never in training): force RMSE (meV/Å) and energy RMSE
   (meV/atom) of the committee mean;
4. observables of the production MD against MD run directly on the oracle for
   ``--reference-ps`` from the same start, same conditions: radial distribution
   functions (first-peak positions of the smoothed curves, ∫|Δg(r)| dr in Å), the
   interface's density profiles along z (peak positions, ∫|Δρ| dz), the solid's
   mobile-ion MSD;
5. for the solid, its equation of state against the oracle: the start structure
   under isotropic strain (fractional coordinates fixed), energies and pressures
   of the committee and of the oracle, Birch–Murnaghan V₀ and bulk modulus. It
   costs a few single points, so it is run for GPAW too, where MD on the oracle
   is out of reach.
   The reference run does not depend on the committee: it is kept in the
   campaign's workdir and reused (``--reference-only`` runs just that, e.g.
   beside the campaign while it is still learning); so is the production run,
   per committee.

Prints one JSON line ``{"systems": [...]}`` and writes it to
``benchmarks/results/systems.json``, keeping the entries of the examples (and
oracles) not run this time (each entry says when it was measured). Run it on an idle
machine::

    python benchmarks/systems.py --example electrolyte --workdir runs/lif_xtb
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.constraints import FixCom
from ase.data import atomic_numbers
from ase.eos import EquationOfState
from ase.geometry.rdf import get_rdf
from ase.io import read, write
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from result_line import RESULTS, emit

from alearn import Campaign, load_committee
from alearn.electronic_states import oracle_calculator
from alearn.exploration import WalkerSpec, make_dynamics
from alearn.protocols.trajectory import unwrap_positions
from alearn.protocols.transport.correlations import msd_sum
from alearn.state import atomic_path, read_json, write_json_atomic
from alearn.uncertainty import broken_structure, from_results, metric_value
from alearn.workdir import STATE_FILE

REPO = Path(__file__).resolve().parents[1]
EOS_STRAINS = np.linspace(-0.03, 0.03, 7)  # isotropic linear strains of the start cell


@dataclass(frozen=True)
class Example:
    """What is compared for one example, and at which condition."""

    pairs: tuple[tuple[str, str], ...]
    temperature_K: float
    profile_species: tuple[str, ...] = ()  # density profiles along z (interfaces)
    msd_species: str | None = None  # the mobile ion (solids)
    eos: bool = False  # equation of state against the oracle (solids)


EXAMPLES = {
    "electrolyte": Example(pairs=(("Li", "O"), ("F", "H"), ("O", "O"), ("O", "H")),
                           temperature_K=330.0),
    "interface": Example(pairs=(("Li", "O"), ("O", "O"), ("O", "H")), temperature_K=330.0,
                         profile_species=("O", "Li")),
    "solid_conductor": Example(pairs=(("Li", "O"), ("Li", "Cl"), ("Li", "Li")),
                               temperature_K=650.0, msd_species="Li", eos=True),
}


def campaign_figures(campaign: Campaign, *, run: bool) -> dict:
    """Iterations, labels and the wall-time split of the campaign: run to its end first,
    or (``run`` false: a campaign stopped early) as it stands."""
    if run:
        result = campaign.run()
        status, iterations = result.status, result.iterations
    else:
        campaign.validate()
        status = read_json(campaign.workdir / STATE_FILE).get("status", "running")
        if status == "running":
            status = "stopped early (as it stands)"
        iterations = max(campaign.stages.iterations())
    split = {"train_s": 0.0, "explore_s": 0.0, "label_s": 0.0, "init_s": 0.0}
    for it in campaign.stages.iterations():
        for stage in ("train", "explore", "label", "init"):
            marker = campaign.stages.done(it, stage)
            if marker:
                split[f"{stage}_s"] += marker.get("wall_s", 0.0)
    return {"status": status, "iterations": iterations,
            "labels": campaign.ds.count(status="labeled"),
            "failed": campaign.ds.count(status="failed"),
            "excluded": campaign.ds.count(status="excluded"),
            "wall_s": {k: round(v, 1) for k, v in split.items()}}


def dynamics(atoms: Atoms, campaign: Campaign, temperature_K: float, seed: int):
    """The campaign's own exploration dynamics (its ensemble, timestep, friction and
    barostat) at ``temperature_K``, velocities drawn from ``seed``."""
    system = campaign.cfg.systems[0]
    spec = WalkerSpec(system=system.name, walker=0, iteration=0, temperature_K=temperature_K,
                      seed=seed, md=system.md)
    rng = np.random.default_rng(seed)
    thermalize_momenta(atoms, temperature_K, rng=rng)
    Stationary(atoms)
    if system.md.ensemble == "nvt":
        atoms.set_constraint(FixCom())
    return make_dynamics(atoms, spec, rng)


def report_progress(what: str, step: int, timestep_fs: float, t0: float) -> None:
    """One line on stderr at every whole picosecond of ``what``."""
    if step and step % round(1000 / timestep_fs) == 0:
        print(f"{what}: {step * timestep_fs / 1000:g} ps, "
              f"{time.perf_counter() - t0:.0f} s elapsed", file=sys.stderr, flush=True)


def _frame(atoms: Atoms) -> Atoms:
    frame = atoms.copy()
    frame.calc = None
    frame.set_constraint()
    return frame


def production_run(campaign: Campaign, committee, start: Atoms, example: Example, *,
                   ps: float, every: int, seed: int) -> dict:
    """:func:`production`'s run, kept in the workdir for the committee that ran it
    (``production_md_iter<N>_<T>K_<ps>ps_every<n>_seed<s>.extxyz`` and ``.json``, N the
    committee's iteration) and reused: the analysis can change without running the MD
    again; a later committee runs its own."""
    latest = campaign.stages.last_done("train")
    stem = (f"production_md_iter{latest:03d}_{example.temperature_K:g}K_{ps:g}ps_"
            f"every{every}_seed{seed}")
    frames_path = campaign.workdir / f"{stem}.extxyz"
    record_path = campaign.workdir / f"{stem}.json"
    if frames_path.is_file() and record_path.is_file():
        return {**read_json(record_path), "frames": read(frames_path, index=":"),
                "file": frames_path.name}
    run = production(campaign, committee, start, example, ps=ps, every=every, seed=seed)
    with atomic_path(frames_path) as tmp:
        write(tmp, run["frames"], format="extxyz")
    write_json_atomic(record_path, {k: v for k, v in run.items() if k != "frames"})
    return {**run, "file": frames_path.name}


def production(campaign: Campaign, committee, start: Atoms, example: Example, *, ps: float,
               every: int, seed: int) -> dict:
    """MD on ``committee`` (the campaign's); stops at the first broken structure or spread
    at ``hi``."""
    ucfg = campaign.cfg.uncertainty
    dt = campaign.cfg.systems[0].md.timestep_fs
    atoms = start.copy()
    atoms.calc = committee
    dyn = dynamics(atoms, campaign, example.temperature_K, seed)
    frames, spread, event = [], [], None
    t0 = time.perf_counter()
    for _ in dyn.irun(int(round(ps * 1000 / dt))):
        if dyn.nsteps % every:
            continue
        report_progress("production MD", dyn.nsteps, dt, t0)
        unc = from_results(atoms.calc.results, len(atoms), relative_eps=ucfg.relative_eps_eV_A)
        value = metric_value(unc.as_info(), ucfg)
        spread.append(value)
        broken = broken_structure(atoms, ucfg)
        if broken or value >= ucfg.hi:
            event = broken or f"spread {value:.3g} ≥ hi at step {dyn.nsteps}"
            break
        frames.append(_frame(atoms))
    wall = time.perf_counter() - t0
    return {"frames": frames, "stable_ps": dyn.nsteps * dt / 1000, "event": event,
            "max_spread": float(max(spread)), "ms_per_step": 1000 * wall / max(1, dyn.nsteps)}


def heldout_errors(committee, oracle, frames: list[Atoms], n: int) -> dict:
    """Committee mean vs the oracle on ``n`` frames spread over ``frames``."""
    picks = [frames[i] for i in np.linspace(0, len(frames) - 1, n).round().astype(int)]
    df, de = [], []
    for frame in picks:
        ref, pred = frame.copy(), frame.copy()
        ref.calc, pred.calc = oracle, committee
        df.append((pred.get_forces() - ref.get_forces()).ravel())
        de.append((pred.get_potential_energy() - ref.get_potential_energy()) / len(frame))
    return {"heldout_frames": n,
            "force_rmse_meV_A": 1000 * float(np.sqrt(np.mean(np.concatenate(df) ** 2))),
            "energy_rmse_meV_atom": 1000 * float(np.sqrt(np.mean(np.square(de))))}


def eos_comparison(model, reference, start: Atoms, strains=EOS_STRAINS) -> dict:
    """Energy and pressure of ``start`` under isotropic linear ``strains`` (fractional
    coordinates fixed) from the calculators ``model`` and ``reference``, and the
    Birch–Murnaghan fit of each energy curve: V₀ per atom (Å³) and bulk modulus (GPa)."""
    out: dict = {"strains": [round(float(s), 4) for s in strains]}
    for name, calc in (("model", model), ("reference", reference)):
        volumes, energies, pressures = [], [], []
        for strain in strains:
            atoms = start.copy()
            atoms.set_cell(start.cell * (1 + strain), scale_atoms=True)
            atoms.calc = calc
            volumes.append(atoms.get_volume() / len(atoms))
            energies.append(atoms.get_potential_energy() / len(atoms))
            pressures.append(-atoms.get_stress()[:3].mean() / units.GPa)
        v0, e0, b = EquationOfState(volumes, energies, eos="birchmurnaghan").fit()
        out[name] = {"v0_A3_atom": round(float(v0), 4), "bulk_modulus_GPa":
                     round(float(b / units.GPa), 2), "pressure_GPa":
                     [round(float(p), 3) for p in pressures],
                     "energy_eV_atom": [round(float(e), 6) for e in energies]}
    diff = np.subtract(out["model"]["energy_eV_atom"], out["reference"]["energy_eV_atom"])
    out["energy_rmse_meV_atom_after_offset"] = round(1000 * float(np.std(diff)), 3)
    out["pressure_rmse_GPa"] = round(float(np.sqrt(np.mean(np.subtract(
        out["model"]["pressure_GPa"], out["reference"]["pressure_GPa"]) ** 2))), 3)
    return out


def reference_frames(campaign: Campaign, oracle, start: Atoms, example: Example, *,
                     ps: float, every: int, seed: int) -> tuple[list[Atoms], dict]:
    """The frames of :func:`reference_md` and its record (``ps``, ``wall_s``, ``file``).

    Kept in the campaign's workdir (``reference_md_<T>K_<ps>ps_every<n>_seed<s>.extxyz``,
    written once the run is complete) and reused: the reference does not depend on the
    committee, so a later committee, or a judgement after the campaign has gone on, is
    compared with the same run without paying for it again."""
    path = campaign.workdir / (f"reference_md_{example.temperature_K:g}K_{ps:g}ps_"
                               f"every{every}_seed{seed}.extxyz")
    if path.is_file():
        return read(path, index=":"), {"ps": ps, "wall_s": None, "file": path.name}
    t0 = time.perf_counter()
    frames = reference_md(campaign, oracle, start, example, ps=ps, every=every, seed=seed)
    with atomic_path(path) as tmp:
        write(tmp, frames, format="extxyz")
    return frames, {"ps": ps, "wall_s": round(time.perf_counter() - t0), "file": path.name}


def reference_md(campaign: Campaign, oracle, start: Atoms, example: Example, *, ps: float,
                 every: int, seed: int) -> list[Atoms]:
    """MD directly on ``oracle`` (the reference method), same conditions."""
    atoms = start.copy()
    atoms.calc = oracle
    dyn = dynamics(atoms, campaign, example.temperature_K, seed)
    frames, dt, t0 = [], campaign.cfg.systems[0].md.timestep_fs, time.perf_counter()
    for _ in dyn.irun(int(round(ps * 1000 / dt))):
        if dyn.nsteps % every == 0:
            frames.append(_frame(atoms))
            report_progress("reference MD", dyn.nsteps, dt, t0)
    return frames


# --------------------------------------------------------------------------- observables
def rdf_rmax(frames: list[Atoms]) -> float:
    """Just under half the smallest cell height of any frame (ASE's get_rdf limit)."""
    def heights(cell) -> np.ndarray:
        return cell.volume / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    return 0.49 * min(heights(f.cell).min() for f in frames)


def mean_rdf(frames: list[Atoms], pair: tuple[str, str], rmax: float, nbins: int
             ) -> tuple[np.ndarray, np.ndarray]:
    z = (atomic_numbers[pair[0]], atomic_numbers[pair[1]])
    curves = [get_rdf(f, rmax, nbins, elements=z) for f in frames]
    return np.mean([g for g, _ in curves], axis=0), curves[0][1]


PEAK_SMOOTHING_A = 0.04  # Gaussian σ (Å) applied to g(r) and ρ(z) before locating a peak


def peak_position(x: np.ndarray, y: np.ndarray, sigma: float = PEAK_SMOOTHING_A) -> float:
    """Where ``y`` (on the even grid ``x``) peaks: the maximum of ``y`` smoothed by a
    Gaussian of width ``sigma``, refined by the parabola through it and its two
    neighbours. Less at the mercy of one noisy bin than the highest bin, and not tied
    to the grid."""
    dx = x[1] - x[0]
    half = max(1, int(np.ceil(3 * sigma / dx)))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) * dx / sigma) ** 2)
    smooth = np.convolve(y, kernel / kernel.sum(), mode="same")
    k = int(np.clip(np.argmax(smooth), 1, len(x) - 2))
    left, mid, right = smooth[k - 1:k + 2]
    curvature = left - 2 * mid + right
    shift = 0.5 * (left - right) / curvature if curvature < 0 else 0.0
    return float(x[k] + shift * dx)


def rdf_comparison(model: list[Atoms], reference: list[Atoms], pairs) -> list[dict]:
    rmax = rdf_rmax(model + reference)
    out = []
    for pair in pairs:
        g_model, r = mean_rdf(model, pair, rmax, 200)
        g_ref, _ = mean_rdf(reference, pair, rmax, 200)
        dr = r[1] - r[0]
        out.append({"pair": "-".join(pair),
                    "peak_model_A": round(peak_position(r, g_model), 3),
                    "peak_reference_A": round(peak_position(r, g_ref), 3),
                    "highest_bin_model_A": round(float(r[np.argmax(g_model)]), 3),
                    "highest_bin_reference_A": round(float(r[np.argmax(g_ref)]), 3),
                    "integrated_abs_diff_A": round(float(np.abs(g_model - g_ref).sum() * dr), 3)})
    return out


def z_profile(frames: list[Atoms], symbol: str, edges: np.ndarray) -> np.ndarray:
    """Number density of ``symbol`` along z (atoms/Å, per frame), z wrapped into the cell."""
    counts = np.zeros(len(edges) - 1)
    for f in frames:
        z = f.get_scaled_positions(wrap=True)[f.numbers == atomic_numbers[symbol], 2]
        counts += np.histogram(z * f.cell[2, 2], edges)[0]
    return counts / (len(frames) * np.diff(edges))


def profile_comparison(model: list[Atoms], reference: list[Atoms], species) -> list[dict]:
    edges = np.arange(0.0, model[0].cell[2, 2] + 0.2, 0.2)
    mid = 0.5 * (edges[1:] + edges[:-1])
    out = []
    for symbol in species:
        rho_m, rho_r = z_profile(model, symbol, edges), z_profile(reference, symbol, edges)
        out.append({"species": symbol, "peak_model_A": round(peak_position(mid, rho_m, 0.2), 2),
                    "peak_reference_A": round(peak_position(mid, rho_r, 0.2), 2),
                    "integrated_abs_diff": round(float(np.abs(rho_m - rho_r).sum() * 0.2), 3)})
    return out


def msd_A2(frames: list[Atoms], symbol: str, lags: list[int]) -> list[float]:
    """Mean squared displacement (Å²) of the ``symbol`` atoms at the given frame lags,
    averaged over atoms and time origins, centre-of-mass drift removed."""
    pos = unwrap_positions(np.array([f.positions for f in frames]),
                           np.array([f.cell[:] for f in frames]))
    masses = frames[0].get_masses()
    pos -= (np.einsum("fnk,n->fk", pos, masses) / masses.sum())[:, None, :]
    sel = pos[:, frames[0].numbers == atomic_numbers[symbol]].reshape(len(frames), -1)
    curve = msd_sum(sel, max(lags)) / (sel.shape[1] // 3)
    return [round(float(curve[m]), 4) for m in lags]


def msd_comparison(model: list[Atoms], reference: list[Atoms], symbol: str, frame_fs: float
                   ) -> dict:
    """MSD of the mobile ion at lags up to half the reference run, model vs reference."""
    longest = len(reference) // 2
    lags = sorted({max(1, round(longest * q)) for q in (0.125, 0.25, 0.5, 1.0)})
    return {"species": symbol, "lag_ps": [round(m * frame_fs / 1000, 3) for m in lags],
            "msd_model_A2": msd_A2(model, symbol, lags),
            "msd_reference_A2": msd_A2(reference, symbol, lags)}


# --------------------------------------------------------------------------- main
def judge(name: str, workdir: Path, args: argparse.Namespace) -> dict:
    example = EXAMPLES[name]
    campaign = Campaign(REPO / "examples" / name / f"campaign_{args.oracle}.yaml", workdir)
    oracle = oracle_calculator(campaign.cfg)
    if args.reference_only:
        campaign.validate()
        _, record = reference_frames(campaign, oracle,
                                     campaign.starts[campaign.cfg.systems[0].name],
                                     example, ps=args.reference_ps, every=args.sample_every,
                                     seed=2)
        return {"name": name, "reference_md": record}
    entry = {"name": name, "oracle": args.oracle, "measured": time.strftime("%Y-%m-%d"),
             **campaign_figures(campaign, run=not args.as_is)}
    start = campaign.starts[campaign.cfg.systems[0].name]
    committee = load_committee(campaign.workdir)
    run = production_run(campaign, committee, start, example, ps=args.production_ps,
                         every=args.sample_every, seed=1)
    entry.update(temperature_K=example.temperature_K, production_ps_asked=args.production_ps,
                 stable_ps=run["stable_ps"], stop_event=run["event"],
                 max_spread=run["max_spread"], committee_ms_per_step=round(run["ms_per_step"], 1),
                 production_md=run["file"])
    entry.update(heldout_errors(committee, oracle, run["frames"], args.heldout))
    if example.eos:
        entry["eos"] = eos_comparison(committee, oracle, start)
    if not args.reference_ps:
        return entry  # no reference MD asked for (GPAW: hours per picosecond here)
    ref, entry["reference_md"] = reference_frames(campaign, oracle, start, example,
                                                  ps=args.reference_ps,
                                                  every=args.sample_every, seed=2)
    entry["rdf"] = rdf_comparison(run["frames"], ref, example.pairs)
    entry["peak_method"] = f"maximum of the curve smoothed by a {PEAK_SMOOTHING_A} Å Gaussian, " \
                           "refined by a parabola (rdf); 0.2 Å for z profiles"
    if example.profile_species:
        entry["z_profiles"] = profile_comparison(run["frames"], ref, example.profile_species)
    if example.msd_species:
        frame_fs = args.sample_every * campaign.cfg.systems[0].md.timestep_fs
        entry["msd"] = msd_comparison(run["frames"], ref, example.msd_species, frame_fs)
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--example", default="electrolyte", choices=sorted(EXAMPLES))
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--oracle", default="xtb", choices=("xtb", "gpaw"),
                        help="which version of the example: campaign_<oracle>.yaml")
    parser.add_argument("--production-ps", type=float, default=20.0)
    parser.add_argument("--reference-ps", type=float, default=2.0,
                        help="MD directly on the oracle for the observables; 0: none")
    parser.add_argument("--heldout", type=int, default=20)
    parser.add_argument("--sample-every", type=int, default=20, help="MD steps between frames")
    parser.add_argument("--as-is", action="store_true",
                        help="do not run the campaign on: judge its latest committee")
    parser.add_argument("--reference-only", action="store_true",
                        help="only run (and keep) the reference MD, e.g. while the campaign "
                             "runs; prints its record, writes no results")
    args = parser.parse_args()
    entry = judge(args.example, args.workdir, args)
    if args.reference_only:
        print(json.dumps(entry))
        return
    previous = RESULTS / "systems.json"
    others = json.loads(previous.read_text())["systems"] if previous.is_file() else []
    key = (entry["name"], entry["oracle"])
    kept = [e for e in others if (e["name"], e.get("oracle", "xtb")) != key]
    emit({"systems": kept + [entry]}, __file__)


if __name__ == "__main__":
    main()
