"""The active-learning campaign: train → explore → select → label, until trusted.

Workdir layout::

    campaign.json          config digest, status, stop reason
    config.yaml            the configuration the campaign was started with
    dataset.db             labeled data (ASE database) with provenance
    alearn.log             the log
    labels/                label journal (see alearn.labeling)
    iter_000/              initial data
    iter_NNN/committee/    member_k.model, train/valid files, training logs
    iter_NNN/explore/      sampled frames per walker (extxyz with unc_* info)
    iter_NNN/report/       parity plot, uncertainty histogram
    iter_NNN/<stage>.done.json   stage markers with timings and statistics

Every stage is idempotent: ``run()`` on an existing workdir skips what is
marked done and redoes only the interrupted stage.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from ase import Atoms
from ase.io import read

from alearn import report
from alearn.config import CampaignConfig, load_config
from alearn.dataset import Candidate, Dataset
from alearn.errors import CampaignStopped, ConfigError
from alearn.exploration import WalkerResult, WalkerSpec, run_walker
from alearn.labeling import label_pending
from alearn.oracles import make_oracle, settings_hash
from alearn.parallel import Workers
from alearn.seeding import derive_seed
from alearn.selection import select
from alearn.state import Stages, read_json, write_json_atomic, write_text_atomic
from alearn.structures import perturbed_copies, read_start
from alearn.training import plan_committee, train_member, write_committee_data, write_extxyz
from alearn.uncertainty import Zone, frame_zone

log = logging.getLogger(__name__)

# Config sections whose change would make an existing workdir inconsistent.
FROZEN_SECTIONS = ("systems", "oracle", "initial_data", "validation")


@dataclass(frozen=True)
class CampaignResult:
    """How a campaign ended."""

    workdir: Path
    status: str  # "converged", "max_iterations", "label_budget"
    iterations: int
    n_labeled: int
    n_failed: int


def assign_splits(n: int, fraction: float, rng: np.random.Generator, *, at_least_one: bool
                  ) -> list[str]:
    """``train``/``valid`` for n new frames; about ``fraction`` of them valid."""
    n_valid = int(np.floor(fraction * n + rng.uniform()))
    if at_least_one and fraction > 0 and n >= 3:
        n_valid = max(n_valid, 1)
    valid = set(rng.choice(n, size=min(n_valid, n), replace=False).tolist())
    return ["valid" if i in valid else "train" for i in range(n)]


def committee_calculator(folder: Path, cfg: CampaignConfig):
    """The committee in ``folder``, wrapped with the baseline when ``cfg`` has one."""
    from alearn.calculators.committee import CommitteeCalculator

    models = [folder / f"member_{k}.model" for k in range(cfg.committee.size)]
    committee = CommitteeCalculator(models, device=cfg.committee.device)
    if cfg.baseline is None:
        return committee
    from alearn.baselines import make_baseline
    from alearn.calculators.delta import DeltaCalculator

    return DeltaCalculator(make_baseline(cfg.baseline), committee)


class Campaign:
    """An active-learning campaign in a work directory.

    Parameters
    ----------
    config
        A :class:`CampaignConfig` or the path of a YAML file.
    workdir
        Where everything is written. ``run()`` resumes if it holds a campaign.
    workers
        How work is spread over MPI ranks (default: serial, or all ranks of
        ``MPI.COMM_WORLD`` when run under mpirun).
    """

    def __init__(self, config: CampaignConfig | str | Path, workdir: str | Path, *,
                 workers: Workers | None = None) -> None:
        self.cfg = config if isinstance(config, CampaignConfig) else load_config(config)
        self.workdir = Path(workdir).resolve()
        self.workers = workers or Workers.from_environment()
        self.stages = Stages(self.workdir)
        oc = self.cfg.oracle
        in_process_mpi = oc.kind == "gpaw" and oc.isolation == "inline" and self.workers.size > 1
        self.oracle = make_oracle(oc, communicator=self.workers.gpaw_group_communicator(
            oc.ranks_per_label) if in_process_mpi else None)
        self.oracle_hash = settings_hash(self.oracle.settings())
        self.starts: dict[str, Atoms] = {}
        self.initial_frames: list[Atoms] = []

    # ------------------------------------------------------------------ set-up
    def validate(self) -> None:
        """Check every input before any expensive work (raises ConfigError)."""
        for system in self.cfg.systems:
            atoms = read_start(self.cfg, system)
            self.oracle.check(atoms, f"systems[{system.name}]")
            if self.cfg.baseline is not None:
                from alearn.baselines import check_baseline, oracle_charge

                check_baseline(self.cfg.baseline, atoms, f"systems[{system.name}]",
                               target_charge=oracle_charge(self.cfg.oracle))
            if system.md.ensemble == "npt" and not atoms.pbc.all():
                raise ConfigError(f"systems[{system.name}].md.ensemble: npt needs a 3D-periodic "
                                  "structure; use nvt")
            self.starts[system.name] = atoms
        if self.cfg.initial_data.file is not None:
            self.initial_frames = self._read_initial_file()
        elements = {z for a in self.starts.values() for z in a.numbers}
        extra = {z for a in self.initial_frames for z in a.numbers} - elements
        if extra:
            raise ConfigError(f"initial_data.file: has elements {sorted(extra)} that no system "
                              "contains; exploration would never visit them")
        self.atomic_numbers = sorted(int(z) for z in elements)

    def _read_initial_file(self) -> list[Atoms]:
        idc = self.cfg.initial_data
        path = self.cfg.resolve(idc.file)
        if not path.is_file():
            raise ConfigError(f"initial_data.file ({path}): file not found")
        try:
            frames = read(str(path), index=":", parallel=False)
        except Exception as err:  # noqa: BLE001
            raise ConfigError(f"initial_data.file ({path}): ASE cannot read it: {err}") from None
        for i, atoms in enumerate(frames):
            if idc.energy_key not in atoms.info or idc.forces_key not in atoms.arrays:
                raise ConfigError(
                    f"initial_data.file ({path}), frame {i}: missing '{idc.energy_key}' (info) "
                    f"or '{idc.forces_key}' (arrays); set initial_data.energy_key/forces_key "
                    "to the names used in the file")
        return frames

    def _open_workdir(self) -> None:
        state_file = self.workdir / "campaign.json"
        digest = self.cfg.digest(*FROZEN_SECTIONS)
        if state_file.is_file():
            state = read_json(state_file)
            if state["frozen_digest"] != digest:
                raise ConfigError(
                    f"{self.workdir}: this campaign was started with different "
                    f"{'/'.join(FROZEN_SECTIONS)} settings (see {self.workdir / 'config.yaml'}); "
                    "resume with the same settings, or start a new --workdir")
            log.info("resuming campaign in %s", self.workdir)
        elif self.workers.is_writer:
            self.workdir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(state_file, {"frozen_digest": digest, "status": "running"})
        if self.workers.is_writer:  # the settings in force (stop, baseline, ... may change)
            write_text_atomic(self.workdir / "config.yaml",
                              yaml.safe_dump(self.cfg.model_dump(mode="json"), sort_keys=False))
        self.workers.barrier()

    # ------------------------------------------------------------------ the loop
    def run(self) -> CampaignResult:
        """Run (or resume) the campaign to its end; returns how it ended."""
        self.validate()
        self._open_workdir()
        with report.log_to_file(self.workdir / "alearn.log", enabled=self.workers.is_writer):
            self.ds = Dataset(self.workdir / "dataset.db")
            self._initial_data()
            status, last = self._iterate()
            result = CampaignResult(self.workdir, status, last, self.ds.count(status="labeled"),
                                    self.ds.count(status="failed"))
            if self.workers.is_writer:
                write_json_atomic(self.workdir / "campaign.json",
                                  {"frozen_digest": self.cfg.digest(*FROZEN_SECTIONS),
                                   "status": status, "iterations": last})
                report.learning_curve(self.workdir)
            log.info("campaign finished: %s after %d iterations (%d labels, %d failed)",
                     status, last, result.n_labeled, result.n_failed)
        return result

    def _iterate(self) -> tuple[str, int]:
        stop = self.cfg.stop
        for it in range(1, stop.max_iterations + 1):
            self._train(it)
            summary = self._explore(it)
            if all(s["accurate_ratio"] >= stop.accurate_ratio for s in summary.values()):
                return "converged", it
            if self._budget_left() <= 0:
                self._train(it + 1)
                return "label_budget", it + 1
            self._select(it)
            self._label(it)
        self._train(stop.max_iterations + 1)
        return "max_iterations", stop.max_iterations + 1

    def _budget_left(self) -> float:
        if self.cfg.stop.max_labels is None:
            return np.inf
        return self.cfg.stop.max_labels - self.ds.count()

    # ------------------------------------------------------------------ stages
    def _initial_data(self) -> None:
        if self.stages.done(0, "init"):
            return
        t0 = time.perf_counter()
        if self.ds.count(iteration=0) == 0 and self.workers.is_writer:
            self.ds.add(self._initial_candidates())
        self.workers.barrier()
        if self.initial_frames:
            self._record_user_labels()
        else:
            self._label_and_check(0)
        if self.workers.is_writer:
            self.stages.mark(0, "init", {"wall_s": time.perf_counter() - t0,
                                         "n_rows": self.ds.count(iteration=0)})

    def _initial_candidates(self) -> list[Candidate]:
        rng = np.random.default_rng(derive_seed(self.cfg.seed, "initial"))
        if self.initial_frames:
            frames = [(a, str(a.info.get("system", "user"))) for a in self.initial_frames]
            source = "user"
        else:
            frames = [(a, name) for name, start in self.starts.items()
                      for a in perturbed_copies(start, self.cfg.initial_data.bootstrap, rng)]
            source = "bootstrap"
        splits = assign_splits(len(frames), self.cfg.validation.fraction, rng, at_least_one=True)
        return [Candidate(atoms=a, system=name, source=source, iteration=0, split=s)
                for (a, name), s in zip(frames, splits)]

    def _record_user_labels(self) -> None:
        from alearn.oracles.base import Label

        idc = self.cfg.initial_data
        rows = self.ds.pending()
        for row, atoms in zip(rows, self.initial_frames):
            stress = atoms.info.get(idc.stress_key)
            label = Label(energy=float(atoms.info[idc.energy_key]),
                          forces=np.asarray(atoms.arrays[idc.forces_key], dtype=float),
                          stress=None if stress is None else np.asarray(stress, dtype=float))
            if self.workers.is_writer:
                self.ds.record_label(row.id, label, oracle="user", oracle_hash=self.oracle_hash,
                                     settings={"file": str(idc.file)}, wall_s=0.0)

    def _label(self, it: int) -> None:
        if self.stages.done(it, "label"):
            return
        t0 = time.perf_counter()
        self._label_and_check(it)
        if self.workers.is_writer:
            counts = self.ds.counts_by("status", iteration=it)
            self.stages.mark(it, "label", {"wall_s": time.perf_counter() - t0, **counts})

    def _label_and_check(self, it: int) -> None:
        label_pending(self.ds, oracle=self.oracle, oracle_cfg=self.cfg.oracle,
                      oracle_hash=self.oracle_hash, journal=self.workdir / "labels",
                      workers=self.workers)
        counts = self.ds.counts_by("status", iteration=it)
        total = sum(counts.values())
        failed = counts.get("failed", 0)
        limit = self.cfg.oracle.max_failure_fraction
        if total and failed / total > limit:
            reasons = sorted({r.get("reason") for r in self.ds.rows(iteration=it, status="failed")})
            raise CampaignStopped(
                f"iteration {it}: {failed} of {total} labels failed (limit "
                f"oracle.max_failure_fraction = {limit}). Reasons: {reasons[:5]}. Check the "
                f"oracle settings (e.g. SCF mixing, smearing, timeout_s) or raise the limit; "
                f"then rerun 'alearn run' to resume.")

    def _target(self) -> str:
        """What the committee learns: ``direct`` or ``delta:<baseline hash>``."""
        if self.cfg.baseline is None:
            return "direct"
        from alearn.baselines import baseline_hash

        return f"delta:{baseline_hash(self.cfg.baseline)}"

    def _train(self, it: int) -> list[Path]:
        done = self.stages.done(it, "train")
        out = self.stages.iter_dir(it) / "committee"
        models = [out / f"member_{k}.model" for k in range(self.cfg.committee.size)]
        if done and done.get("target", "direct") == self._target():
            return models
        if done:  # trained for another target (direct <-> Δ switched): train again
            log.info("iteration %d: committee was trained for %s; retraining for %s", it,
                     done.get("target"), self._target())
            if self.workers.is_writer:
                shutil.rmtree(out)
                (self.stages.iter_dir(it) / "train.done.json").unlink()
            self.workers.barrier()
        t0 = time.perf_counter()
        out.mkdir(parents=True, exist_ok=True)
        self._ensure_baseline()
        train = self._training_frames("train")
        valid = self._training_frames("valid")
        if len(train) < 2:
            raise CampaignStopped(f"only {len(train)} labeled training frames; the committee "
                                  "needs at least 2. Check the failed labels ('alearn status').")
        previous = self._previous_models(it)
        jobs, subsets = plan_committee(self.cfg.committee, n_train=len(train), out_dir=out,
                                       seed=self.cfg.seed, iteration=it, previous=previous)
        if self.workers.is_writer:
            write_committee_data(jobs, subsets, train, valid)
        self.workers.barrier()
        if not valid:
            jobs = [job.__class__(**{**job.__dict__, "valid_file": None}) for job in jobs]
        has_stress = all(a.pbc.all() for a in self.starts.values())
        todo = self.workers.bcast([j for j in jobs if not j.model_path.is_file()])
        threads = self.cfg.committee.threads_per_member
        target = "REF" if self.cfg.baseline is None else "DELTA"
        times = self.workers.map(
            lambda job: train_member(self.cfg.committee, job, atomic_numbers=self.atomic_numbers,
                                     has_stress=has_stress, threads=threads, target=target),
            todo, desc="training", concurrency=max(1, self.workers.threads // threads))
        if self.workers.is_writer:
            metrics = report.validation_metrics(self.calculator(it), valid,
                                                self.stages.iter_dir(it) / "report")
            self.stages.mark(it, "train", {"wall_s": time.perf_counter() - t0,
                                           "n_train": len(train), "n_valid": len(valid),
                                           "member_wall_s": times, "warm_start": bool(previous),
                                           "target": self._target(),
                                           **metrics})
        self.workers.barrier()
        return models

    def _previous_models(self, it: int) -> list[Path] | None:
        if it <= 1 or not self.cfg.committee.warm_start:
            return None
        prev = self.stages.iter_dir(it - 1) / "committee"
        paths = [prev / f"member_{k}.model" for k in range(self.cfg.committee.size)]
        return paths if all(p.is_file() for p in paths) else None

    def calculator(self, it: int):
        """The committee of iteration ``it`` (on top of the baseline, for Δ-ML)."""
        return committee_calculator(self.stages.iter_dir(it) / "committee", self.cfg)

    def _training_frames(self, split: str) -> list[Atoms]:
        """Labeled frames of ``split``; for Δ-ML only those with the current baseline."""
        frames = self.ds.labeled_atoms(split)
        if self.cfg.baseline is None:
            return frames
        from alearn.baselines import baseline_hash

        wanted = baseline_hash(self.cfg.baseline)
        return [a for a in frames if a.info.get("baseline_hash") == wanted]

    def _ensure_baseline(self) -> None:
        """Compute the Δ-ML baseline where a labeled row lacks it (never the target)."""
        if self.cfg.baseline is None or not self.workers.is_writer:
            self.workers.barrier()
            return
        from alearn.baselines import baseline_hash, compute_baseline, make_baseline
        from alearn.errors import LabelFailed

        wanted = baseline_hash(self.cfg.baseline)
        rows = [r for r in self.ds.rows(status="labeled")
                if r.data.get("baseline", {}).get("hash") != wanted]
        calc = make_baseline(self.cfg.baseline) if rows else None
        for row in rows:
            try:
                base = compute_baseline(self.cfg.baseline, row.toatoms(), calc=calc)
                self.ds.record_baseline(row.id, baseline_hash=wanted, energy=base.energy,
                                        forces=base.forces, stress=base.stress)
            except LabelFailed as err:
                log.warning("baseline failed on row %d: %s (frame left out)", row.id, err)
                self.ds.record_baseline(row.id, baseline_hash=wanted, failed=str(err))
        self.workers.barrier()

    def walker_specs(self, it: int) -> list[WalkerSpec]:
        n_iter = self.cfg.stop.max_iterations
        return [WalkerSpec(system=s.name, walker=w, iteration=it,
                           temperature_K=s.md.walker_temperature_K(w, it, n_iter),
                           seed=derive_seed(self.cfg.seed, "walker", it, s.name, w), md=s.md)
                for s in self.cfg.systems for w in range(s.walkers)]

    def _explore(self, it: int) -> dict[str, dict]:
        done = self.stages.done(it, "explore")
        if done:
            return done["systems"]
        t0 = time.perf_counter()
        out = self.stages.iter_dir(it) / "explore"
        out.mkdir(parents=True, exist_ok=True)
        specs = self.workers.bcast([s for s in self.walker_specs(it)
                                    if not (out / f"{s.stem}.json").is_file()])
        calc_factory = self._committee_factory(it)
        ucfg = self.cfg.uncertainty

        def explore(spec: WalkerSpec) -> WalkerResult:
            result = run_walker(self.walker_start(spec), calc_factory(), spec, ucfg)
            self._save_walker(out, result)
            return result

        self.workers.map(explore, specs, desc="walkers")
        if not self.workers.is_writer:
            self.workers.barrier()
            return read_json(self.stages.iter_dir(it) / "explore.done.json")["systems"]
        summary = self._explore_summary(it)
        report.uncertainty_histogram(self._explored_frames(it), ucfg,
                                     self.stages.iter_dir(it) / "report")
        self.stages.mark(it, "explore", {"wall_s": time.perf_counter() - t0, "systems": summary})
        self.workers.barrier()
        return summary

    def walker_start(self, spec: WalkerSpec) -> Atoms:
        """Where a walker starts: its system's structure, or (``md.start_from: previous``)
        the last trusted or candidate frame its predecessor sampled one iteration earlier."""
        start = self.starts[spec.system]
        if spec.md.start_from == "structure" or spec.iteration <= 1:
            return start
        path = self.stages.iter_dir(spec.iteration - 1) / "explore" / f"{spec.stem}.xyz"
        frames = read(str(path), index=":", parallel=False) if path.is_file() else []
        ucfg = self.cfg.uncertainty
        usable = [f for f in frames if frame_zone(f, ucfg) is not Zone.REJECTED]
        if not usable:
            return start
        atoms = start.copy()
        atoms.positions = usable[-1].positions
        atoms.cell = usable[-1].cell  # NPT walkers carry their cell on
        return atoms

    def _committee_factory(self, it: int):
        cache = {}

        def factory():
            if "calc" not in cache:
                cache["calc"] = self.calculator(it)
            return cache["calc"]

        return factory

    @staticmethod
    def _save_walker(out: Path, result: WalkerResult) -> None:
        spec = result.spec
        write_extxyz(result.frames, out / f"{spec.stem}.xyz")
        write_json_atomic(out / f"{spec.stem}.json",
                          {"steps": result.steps, "stop_reason": result.stop_reason,
                           "wall_s": result.wall_s, "n_frames": len(result.frames),
                           "temperature_K": spec.temperature_K})

    def _explored_frames(self, it: int, system: str | None = None) -> list[Atoms]:
        out = self.stages.iter_dir(it) / "explore"
        frames = []
        for spec in self.walker_specs(it):
            if system is None or spec.system == system:
                frames += read(str(out / f"{spec.stem}.xyz"), index=":",
                               parallel=False)
        return frames

    def _explore_summary(self, it: int) -> dict[str, dict]:
        ucfg = self.cfg.uncertainty
        summary = {}
        for system in self.cfg.systems:
            frames = self._explored_frames(it, system.name)
            zones = [frame_zone(f, ucfg) for f in frames]
            n = len(zones)
            counts = {z.name.lower(): sum(1 for x in zones if x is z) for z in Zone}
            out = self.stages.iter_dir(it) / "explore"
            stops = [read_json(out / f"{s.stem}.json")["stop_reason"]
                     for s in self.walker_specs(it) if s.system == system.name]
            summary[system.name] = {"n_frames": n, **counts,
                                    "accurate_ratio": counts["trusted"] / n if n else 0.0,
                                    "stopped_walkers": [s for s in stops if s]}
        return summary

    def _select(self, it: int) -> None:
        if self.stages.done(it, "select"):
            return
        t0 = time.perf_counter()
        if self.workers.is_writer:
            if self.ds.count(iteration=it, source="explore") == 0:  # the DB is the marker
                self.ds.add(self._choose_candidates(it))
            self.stages.mark(it, "select", {"wall_s": time.perf_counter() - t0,
                                            "n_selected": self.ds.count(iteration=it)})
        self.workers.barrier()

    def _choose_candidates(self, it: int) -> list[Candidate]:
        ucfg, calc = self.cfg.uncertainty, self.calculator(it)
        rng = np.random.default_rng(derive_seed(self.cfg.seed, "select", it))
        budget = self._budget_left()
        training = self._training_frames("train")
        chosen: list[Candidate] = []
        for system in self.cfg.systems:
            frames = [f for f in self._explored_frames(it, system.name)
                      if frame_zone(f, ucfg) is Zone.CANDIDATE]
            cap = int(min(system.max_selected, budget - len(chosen)))
            if not frames or cap <= 0:
                continue
            scores = np.array([f.info[f"unc_{ucfg.metric}"] for f in frames])
            feats = np.array([calc.descriptors(f) for f in frames])
            existing = np.array([calc.descriptors(a) for a in training
                                 if a.info.get("system") == system.name])
            picks = select(feats, scores, cap, method=self.cfg.selection.method, rng=rng,
                           existing=existing if len(existing) else None)
            splits = assign_splits(len(picks), self.cfg.validation.fraction, rng,
                                   at_least_one=False)
            for i, split in zip(picks, splits):
                f = frames[int(i)]
                chosen.append(Candidate(
                    atoms=f, system=system.name, source="explore", iteration=it, split=split,
                    walker=int(f.info["walker"]), md_step=int(f.info["md_step"]),
                    uncertainty={k: v for k, v in f.info.items() if k.startswith("unc_")}))
        return chosen
