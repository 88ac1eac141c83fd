"""Free-energy and local-transport benchmark: exact recovery on synthetic interfaces.

Synthetic system (exact answers): independent overdamped Langevin particles
in :func:`alearn.protocols.free_energy.interface_like_landscape` (an adsorption
well of -2 kT at 2 Å, a 1 kT barrier at 3.2 Å, D⊥ falling to 40 % and D∥ to
70 % of the bulk value 2·10⁻⁵ cm²/s near the wall), 0.6 ns, frames every 100 fs.
Measured against the exact F(z), D(z) and model first-passage times:

* ``F_rms_error_kT`` — histogram F(z), RMS error after the best constant;
* ``D_rel_error`` — RMS relative error of Hummer's D⊥(z) (``D_parallel_rel_error`` for D∥);
* ``mfpt_rel_error`` — largest |model/MD - 1| of the first-passage times 2 ↔ 5 Å
  (Smoluchowski model from the *estimated* profiles vs passages counted in the
  trajectories); ``*_within_error_bars`` — the fraction of bins (or the MFPTs)
  inside 2 (3) standard errors;
* ``umbrella_barrier_error_kT`` — umbrella sampling + MBAR (pymbar) on a 5 kT double
  well (Brownian windows);
* ``analysis_s_per_1e5_frames`` — F, D⊥, D∥ of 16 particles over 10⁵ frames.

The real interface: run ``examples/free_energy_interface.py`` on a campaign's
committee with ``--bulk-range`` and ``--bulk-trajectory``, then pass its
``summary.json`` as ``--interface-summary``; its barrier heights and D plateaus vs
the transport protocol's bulk D go into the ``interface`` entry (null without it).

Run (about 2 min on 2 shared cores; ``--quick`` for a reduced check)::

    OMP_NUM_THREADS=1 python benchmarks/free_energy.py [--interface-summary fe_out/summary.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from alearn.protocols import normal_diffusion_profile, parallel_diffusion_profile
from alearn.protocols.free_energy import (
    Landscape,
    SmoluchowskiModel,
    UmbrellaWindows,
    bin_edges,
    continuum_numbers,
    diffusion_figure,
    free_energy_figure,
    histogram_profile,
    interface_like_landscape,
    mbar_profile,
    save_figure,
    simulate_brownian,
)
from alearn.protocols.units import A2_PER_FS_TO_CM2_PER_S, KB_EV_PER_K

T = 300.0
BULK = (6.0, 8.0)


def synthetic(n_particles: int, n_frames: int, figures: Path | None, seed: int) -> dict:
    """Recovery errors of F, D⊥, D∥ and of the model's first-passage times."""
    land = interface_like_landscape()
    run = simulate_brownian(land, n_particles=n_particles, n_frames=n_frames, timestep_fs=10.0,
                            steps_per_frame=10, rng=np.random.default_rng(seed))
    edges = bin_edges(*land.z_range_A, 0.1)
    free = histogram_profile(run.z_A, bin_edges=edges, temperature_K=T, n_blocks=10)
    normal = normal_diffusion_profile(run.z_A, run.frame_interval_fs, bin_edges_A=edges,
                                      lag_frames=8, n_blocks=10)
    par = parallel_diffusion_profile(run.z_A, run.xy_A, run.frame_interval_fs,
                                     bin_edges_A=bin_edges(*land.z_range_A, 0.5),
                                     fit_lags_frames=(1, 4), n_blocks=10)
    f_err = _aligned(free.F_kT, _exact_bins_kT(land, edges), free.stderr_kT)
    d_exact = land.diffusion_A2_fs(normal.z_A)
    d_rel = normal.D_A2_fs / d_exact - 1
    p_rel = par.D_A2_fs / land.parallel_diffusion_A2_fs(par.z_A) - 1
    model = SmoluchowskiModel(free.shifted(BULK), normal)
    numbers = continuum_numbers(model, run.z_A, run.frame_interval_fs, 2.0, 5.0,
                                bulk_range_A=BULK)
    rel = numbers.relative_differences()
    mfpt = [k for k in rel if k.startswith("mfpt")]
    inside = [abs(numbers.model[k].value - numbers.md[k].value)
              < 3 * np.hypot(numbers.model[k].stderr, numbers.md[k].stderr) for k in mfpt]
    if figures is not None:
        save_figure(free_energy_figure([free], labels=["histogram (10 blocks)"],
                                       exact_kT=land.free_energy_kT),
                    figures / "free_energy_synthetic.png")
        save_figure(diffusion_figure([normal, par], labels=["D⊥ transition matrix",
                                                            "D∥ survivor MSD"],
                                     exact_A2_fs=[land.diffusion_A2_fs,
                                                  land.parallel_diffusion_A2_fs]),
                    figures / "diffusion_synthetic.png")
    return {
        "particles": n_particles, "frames": n_frames, "frame_interval_fs": run.frame_interval_fs,
        "F_rms_error_kT": _rms(f_err), "F_within_2_stderr": _inside(f_err, free.stderr_kT),
        "D_rel_error": _rms(d_rel), "D_rel_bias": float(np.nanmean(d_rel)),
        "D_within_2_stderr": _inside(normal.D_A2_fs - d_exact, normal.stderr_A2_fs),
        "D_parallel_rel_error": _rms(p_rel),
        "mfpt_rel_error": float(max(abs(rel[k]) for k in mfpt)),
        "mfpt_within_3_stderr": bool(all(inside)),
        "transition_rate_rel_error": float(rel["transition_rate_per_ns"]),
        "resistance_rel_error": float(rel["resistance_s_m"]),
        "continuum": numbers.to_dict(),
    }


def umbrella(n_particles: int, figures: Path | None, seed: int) -> dict:
    """MBAR on Brownian umbrella windows in a 5 kT double well."""
    height, spring_kT = 5.0, 20.0
    kT = KB_EV_PER_K * T

    def well(z):
        return height * (z**2 - 1.0) ** 2

    windows = UmbrellaWindows.evenly_spaced(-1.5, 1.5, 16, spring=spring_kT * kT)
    rng = np.random.default_rng(seed)
    samples = []
    for c in windows.centers:
        biased = Landscape(lambda z, c=c: well(z) + 0.5 * spring_kT * (z - c) ** 2,
                           lambda z: np.full_like(z, 0.01), (-2.5, 2.5))
        run = simulate_brownian(biased, n_particles=n_particles, n_frames=61, timestep_fs=0.05,
                                steps_per_frame=40, rng=rng)
        samples.append(run.z_A[1:].ravel())
    result = mbar_profile(samples, windows, bin_edges=bin_edges(-1.5, 1.5, 0.1),
                          temperature_K=T, decorrelate=False)
    prof = result.profile
    found = prof.difference((-1.2, -0.8), (-0.1, 0.1))
    exact = well(prof.centers)
    exact_barrier = exact[np.abs(prof.centers) < 0.1].max() - exact[
        (prof.centers > -1.2) & (prof.centers < -0.8)].min()
    if figures is not None:
        save_figure(free_energy_figure([prof], labels=["umbrella + MBAR"], exact_kT=well),
                    figures / "umbrella_double_well.png")
    return {"umbrella_barrier_kT": found.value / kT,
            "umbrella_barrier_stderr_kT": found.stderr / kT,
            "umbrella_barrier_exact_kT": float(exact_barrier),
            "umbrella_barrier_error_kT": float(found.value / kT - exact_barrier),
            "umbrella_min_overlap": float(result.neighbour_overlap.min())}


def analysis_time(n_frames: int, seed: int) -> float:
    """Seconds for F, D⊥ and D∥ of 16 particles, scaled to 10⁵ frames."""
    land = interface_like_landscape()
    run = simulate_brownian(land, n_particles=16, n_frames=n_frames, timestep_fs=10.0,
                            steps_per_frame=2, rng=np.random.default_rng(seed))
    edges = bin_edges(*land.z_range_A, 0.1)
    start = time.perf_counter()
    histogram_profile(run.z_A, bin_edges=edges, temperature_K=T, n_blocks=5)
    normal_diffusion_profile(run.z_A, run.frame_interval_fs, bin_edges_A=edges, lag_frames=20,
                             n_blocks=5)
    parallel_diffusion_profile(run.z_A, run.xy_A, run.frame_interval_fs,
                               bin_edges_A=bin_edges(*land.z_range_A, 0.5),
                               fit_lags_frames=(5, 20), n_blocks=5)
    return (time.perf_counter() - start) * 1e5 / n_frames


def interface_figures(path: Path | None) -> dict | None:
    """Barriers and D plateaus of a real interface from the example's summary.json."""
    if path is None:
        return None
    summary = json.loads(Path(path).read_text())
    out = {}
    for label, entry in summary.items():
        if not isinstance(entry, dict) or "profiles_summary" not in entry:
            continue
        prof = entry["profiles_summary"]
        row = {k: prof.get(k) for k in ("well_z_A", "well_depth_kT", "desorption_barrier_kT")}
        plateaus = prof.get("plateaus_A2_fs") or {}
        for direction, est in plateaus.items():
            row[f"D_plateau_{direction}_cm2_s"] = est["value"] * A2_PER_FS_TO_CM2_PER_S
        bulk = entry.get("bulk_D_A2_fs_transport")
        if bulk:
            row["bulk_D_transport_cm2_s"] = bulk["value"] * A2_PER_FS_TO_CM2_PER_S
            if "normal" in plateaus:
                row["plateau_normal_over_bulk"] = plateaus["normal"]["value"] / bulk["value"]
        row["continuum_relative_differences"] = entry["continuum"]["relative_differences"]
        out[label] = row
    return out


def _exact_bins_kT(land: Landscape, edges: np.ndarray) -> np.ndarray:
    fine = np.linspace(edges[0], edges[-1], 200 * (edges.size - 1) + 1)
    mid = 0.5 * (fine[1:] + fine[:-1])
    which = np.minimum(np.searchsorted(edges, mid, side="right") - 1, edges.size - 2)
    prob = np.bincount(which, np.exp(-land.free_energy_kT(mid)) * np.diff(fine))
    return -np.log(prob / prob.sum())


def _aligned(est: np.ndarray, exact: np.ndarray, err: np.ndarray) -> np.ndarray:
    diff = est - exact
    ok = np.isfinite(diff) & (err > 0)
    w = 1.0 / err[ok] ** 2
    return diff - np.sum(w * diff[ok]) / w.sum()


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.nanmean(np.asarray(x) ** 2)))


def _inside(diff: np.ndarray, err: np.ndarray) -> float:
    ok = np.isfinite(diff) & np.isfinite(err)
    return float(np.mean(np.abs(diff[ok]) < 2 * err[ok]))


def run_benchmark(*, quick: bool, figures: Path | None, interface_summary: Path | None,
                  seed: int = 2024) -> dict:
    """Everything measured, as the dict the JSON line prints."""
    wall = time.perf_counter()
    particles, frames = (150, 3001) if quick else (400, 6001)
    result = {"benchmark": "free_energy", "quick": quick,
              "synthetic": synthetic(particles, frames, figures, seed)}
    result.update(umbrella(30 if quick else 60, figures, seed + 1))
    result["analysis_s_per_1e5_frames"] = analysis_time(20_000 if quick else 100_000, seed + 2)
    for key in ("F_rms_error_kT", "D_rel_error", "mfpt_rel_error"):
        result[key] = result["synthetic"][key]
    result["interface"] = interface_figures(interface_summary)
    result["wall_s"] = time.perf_counter() - wall
    return result


def main() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from result_line import emit

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="reduced sizes (a check)")
    parser.add_argument("--figures", type=Path, default=Path("docs/img"))
    parser.add_argument("--interface-summary", type=Path,
                        help="summary.json of examples/free_energy_interface.py (real interface)")
    args = parser.parse_args()
    emit(run_benchmark(quick=args.quick, figures=args.figures,
                       interface_summary=args.interface_summary), __file__)


if __name__ == "__main__":
    main()
