"""Is the final committee of an example campaign usable? (issue 17)

For each example in ``examples/<name>/campaign_xtb.yaml`` (test-sized: the
GFN1-xTB test oracle stands in for DFT):

1. run (or resume) the campaign; record iterations, labels, wall time split
   (train / explore / label, from the stage markers);
2. production MD with the final committee at the first walker's temperature
   (Langevin NVT, the campaign's timestep): ``stable_ps`` is the time until a
   structure breaks or the committee spread reaches ``hi`` (the whole run if
   neither happens);
3. held-out frames: ``--heldout`` frames of that production run, labeled by the
   oracle directly (never in training): force RMSE (meV/Å) and energy RMSE
   (meV/atom) of the committee mean;
4. radial distribution functions of the production MD against MD run directly
   on the oracle for ``--reference-ps`` from the same start: first-peak
   positions and the integrated absolute difference ∫|Δg(r)| dr (Å) per pair.

Prints one JSON line ``{"systems": [...]}`` and writes it to
``benchmarks/results/systems.json``. Run it on an idle machine::

    python benchmarks/systems.py --example electrolyte --workdir runs/lif_xtb
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.constraints import FixCom
from ase.geometry.rdf import get_rdf
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from result_line import emit

from alearn import Campaign, load_committee
from alearn.methods import method, section
from alearn.uncertainty import broken_structure, from_results, metric_value

REPO = Path(__file__).resolve().parents[1]
#: pairs whose g(r) is compared, per example
PAIRS = {"electrolyte": [("Li", "O"), ("F", "H"), ("O", "O"), ("O", "H")]}


def campaign_figures(campaign: Campaign, *, run: bool) -> dict:
    """Iterations, labels and the wall-time split of the campaign: run to its end first,
    or (``run`` false: a campaign stopped early) as it stands."""
    if run:
        result = campaign.run()
        status, iterations = result.status, result.iterations
    else:
        campaign.validate()
        status, iterations = "stopped early (as it stands)", max(campaign.stages.iterations())
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


def langevin(atoms: Atoms, temperature_K: float, timestep_fs: float, seed: int) -> Langevin:
    rng = np.random.default_rng(seed)
    thermalize_momenta(atoms, temperature_K=temperature_K, rng=rng)
    Stationary(atoms)
    atoms.set_constraint(FixCom())
    return Langevin(atoms, timestep_fs * units.fs, temperature_K=temperature_K,
                    friction=0.01 / units.fs, fixcm=False, rng=rng)


def production(campaign: Campaign, start: Atoms, *, ps: float, every: int, seed: int) -> dict:
    """Committee MD; stops at the first broken structure or spread at ``hi``."""
    cfg, system = campaign.cfg, campaign.cfg.systems[0]
    dt = system.md.timestep_fs
    atoms = start.copy()
    atoms.calc = load_committee(campaign.workdir)
    dyn = langevin(atoms, system.md.walker_temperature_K(0, 1, 1), dt, seed)
    frames, spread, event = [], [], None
    t0 = time.perf_counter()
    for _ in dyn.irun(int(round(ps * 1000 / dt))):
        if dyn.nsteps % every:
            continue
        unc = from_results(atoms.calc.results, len(atoms),
                           relative_eps=cfg.uncertainty.relative_eps_eV_A)
        value = metric_value(unc.as_info(), cfg.uncertainty)
        spread.append(value)
        broken = broken_structure(atoms, cfg.uncertainty)
        if broken or value >= cfg.uncertainty.hi:
            event = broken or f"spread {value:.3g} ≥ hi at step {dyn.nsteps}"
            break
        frame = atoms.copy()
        frame.calc = None
        frame.set_constraint()
        frames.append(frame)
    wall = time.perf_counter() - t0
    return {"frames": frames, "stable_ps": dyn.nsteps * dt / 1000, "event": event,
            "max_spread": float(max(spread)), "ms_per_step": 1000 * wall / max(1, dyn.nsteps)}


def oracle_calculator(campaign: Campaign):
    oc = campaign.cfg.oracle
    return method(oc.kind).make_calculator(section(oc))


def heldout_errors(campaign: Campaign, frames: list[Atoms], n: int) -> dict:
    """Committee mean vs the oracle on ``n`` frames spread over ``frames``."""
    committee, oracle = load_committee(campaign.workdir), oracle_calculator(campaign)
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


def reference_md(campaign: Campaign, start: Atoms, *, ps: float, every: int, seed: int
                 ) -> list[Atoms]:
    """MD directly on the oracle (the reference method), same conditions."""
    system = campaign.cfg.systems[0]
    atoms = start.copy()
    atoms.calc = oracle_calculator(campaign)
    dyn = langevin(atoms, system.md.walker_temperature_K(0, 1, 1), system.md.timestep_fs, seed)
    frames = []
    for _ in dyn.irun(int(round(ps * 1000 / system.md.timestep_fs))):
        if dyn.nsteps % every == 0:
            frame = atoms.copy()
            frame.calc = None
            frame.set_constraint()
            frames.append(frame)
    return frames


def mean_rdf(frames: list[Atoms], pair: tuple[str, str], rmax: float, nbins: int
             ) -> tuple[np.ndarray, np.ndarray]:
    from ase.data import atomic_numbers

    z = (atomic_numbers[pair[0]], atomic_numbers[pair[1]])
    curves = [get_rdf(f, rmax, nbins, elements=z) for f in frames]
    return np.mean([g for g, _ in curves], axis=0), curves[0][1]


def rdf_comparison(model: list[Atoms], reference: list[Atoms], pairs, rmax: float) -> list[dict]:
    out = []
    for pair in pairs:
        g_model, r = mean_rdf(model, pair, rmax, 200)
        g_ref, _ = mean_rdf(reference, pair, rmax, 200)
        dr = r[1] - r[0]
        out.append({"pair": "-".join(pair), "peak_model_A": round(float(r[np.argmax(g_model)]), 3),
                    "peak_reference_A": round(float(r[np.argmax(g_ref)]), 3),
                    "integrated_abs_diff_A": round(float(np.abs(g_model - g_ref).sum() * dr), 3)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--example", default="electrolyte", choices=sorted(PAIRS))
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--production-ps", type=float, default=20.0)
    parser.add_argument("--reference-ps", type=float, default=2.0)
    parser.add_argument("--heldout", type=int, default=20)
    parser.add_argument("--sample-every", type=int, default=20, help="MD steps between frames")
    parser.add_argument("--as-is", action="store_true",
                        help="do not run the campaign on: judge its latest committee")
    args = parser.parse_args()

    campaign = Campaign(REPO / "examples" / args.example / "campaign_xtb.yaml", args.workdir)
    entry = {"name": args.example, **campaign_figures(campaign, run=not args.as_is)}
    start = campaign.starts[campaign.cfg.systems[0].name]
    run = production(campaign, start, ps=args.production_ps, every=args.sample_every, seed=1)
    entry.update(production_ps_asked=args.production_ps, stable_ps=run["stable_ps"],
                 stop_event=run["event"], max_spread=run["max_spread"],
                 committee_ms_per_step=round(run["ms_per_step"], 1))
    entry.update(heldout_errors(campaign, run["frames"], args.heldout))
    t0 = time.perf_counter()
    ref = reference_md(campaign, start, ps=args.reference_ps, every=args.sample_every, seed=2)
    entry["reference_md"] = {"ps": args.reference_ps, "wall_s": round(time.perf_counter() - t0)}
    rmax = 0.49 * min(np.linalg.norm(start.cell, axis=1))
    entry["rdf"] = rdf_comparison(run["frames"], ref, PAIRS[args.example], rmax)
    emit({"systems": [entry]}, __file__)


if __name__ == "__main__":
    main()
