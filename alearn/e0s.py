"""Per-element reference energies (E0s) of the committee: isolated-atom energies.

A MACE model's energy is Σ_i E0(Z_i) plus what its layers learn. With
``committee.training.e0s: isolated`` (the default) E0(Z) is the energy of the
free neutral atom, computed with the oracle's own method and settings
(:func:`alearn.methods.isolated_atom`: charge 0, the Hund's-rule spin, Γ only,
a 10 Å box); with a Δ-ML baseline, the oracle's minus the baseline's. These
values do not depend on the data. mace-torch's ``average`` (a least-squares
fit to the training energies) does: with one composition it is degenerate
(minimum-norm; E0(H) = −65.8 eV, E0(O) = −32.9 eV were seen), and every
warm-started training refits it.

The atoms are computed once per workdir, before the first training: the
oracle's through the labeling machinery (worker processes, time limit, MPI
ranks, as for labels: :func:`alearn.labeling.compute_outcome`), the baseline's
in process (as :func:`alearn.baselines.ensure_baselines` does). They are
stored in ``<workdir>/e0s.json`` and reused by every training, also after a
resume; an element is recomputed only when the file lacks it or was made with
other oracle (or baseline) settings or an older :data:`RECIPE`.

``e0s.json``
------------
``recipe``     :data:`RECIPE`; ``box_A``: the atom's box edges (Å);
``target``     ``direct`` or ``delta:<baseline hash>``;
``e0s_eV``     element → E0 (eV), what mace-torch gets;
``oracle``     ``kind``, ``settings_hash`` (:func:`alearn.oracles.settings_hash` of
               the oracle's settings and code versions), ``settings``, and
               ``atoms``: element → ``energy_eV``, ``magnetic_moment`` (μ_B),
               ``wall_s``, ``attempts`` (SCF attempts) and ``parameters`` (the
               method's settings for the atom);
``baseline``   the same for the Δ-ML baseline (``settings_hash`` is
               :func:`alearn.baselines.baseline_hash`), or null.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ase import Atoms
from ase.data import atomic_numbers as z_of
from ase.data import chemical_symbols

from alearn.errors import AlearnError
from alearn.methods import isolated_atom, method, provenance, section
from alearn.methods.base import ATOM_BOX_A
from alearn.oracles import make_oracle, settings_hash
from alearn.state import read_json, write_json_atomic

if TYPE_CHECKING:
    from alearn.config import BaselineConfig, CampaignConfig, OracleConfig
    from alearn.foundation import FoundationModel
    from alearn.parallel import Workers

log = logging.getLogger(__name__)

__all__ = ["E0S_FILE", "RECIPE", "E0sFailed", "baseline_atom_energies", "isolated_e0s",
           "known_before_labels", "oracle_atom_energies", "reference_energies"]

E0S_FILE = "e0s.json"
#: worker folders of the oracle's atoms (kept after a failure, for inspection)
SCRATCH = "e0s_scratch"
#: version of the isolated-atom recipe; stored values of another version are recomputed
RECIPE = 1

AtomEnergies = dict[str, dict[str, Any]]


class E0sFailed(AlearnError):
    """An isolated-atom energy could not be computed; the message names the element
    and says how to go on."""


def known_before_labels(cfg: CampaignConfig) -> bool:
    """Whether the E0s can be had before any label: all but ``estimated``, which
    fits them to the first training frames (:mod:`alearn.foundation`)."""
    return cfg.committee.training.e0s != "estimated"


def reference_energies(cfg: CampaignConfig, atomic_numbers: Sequence[int], *, workdir: Path,
                       workers: Workers, foundation: FoundationModel | None = None,
                       training_frames: Callable[[], Sequence[Atoms]] | None = None
                       ) -> str | dict[str, float]:
    """The per-element reference energies a campaign's committee trains with.

    Parameters
    ----------
    cfg
        The campaign's configuration (``committee.training.e0s`` decides).
    atomic_numbers
        Elements of the campaign's systems.
    workdir
        The campaign's work directory (``e0s.json`` is read and written there).
    workers
        The campaign's ranks; every rank calls this.

    foundation, training_frames
        For ``"foundation"`` and ``"estimated"``: the foundation model, and what
        gives the labeled training frames (called only to estimate E0s not yet
        stored, see :func:`alearn.foundation.foundation_reference_energies`).

    Returns
    -------
    The mapping element → eV of ``committee.training.e0s`` when it is one,
    ``"average"`` (mace-torch fits them), or, for ``"isolated"``, element →
    isolated-atom E0 (eV) from :func:`isolated_e0s`; for ``"foundation"`` and
    ``"estimated"``, element → E0 (eV) from the foundation model.
    """
    e0s = cfg.committee.training.e0s
    if not isinstance(e0s, str):
        return dict(e0s)
    if e0s == "average":
        return e0s
    symbols = [chemical_symbols[z] for z in sorted(set(atomic_numbers))]
    if e0s in ("foundation", "estimated"):
        from alearn.foundation import foundation_reference_energies

        if foundation is None or training_frames is None:
            raise AlearnError(f"committee.training.e0s '{e0s}' needs the foundation model "
                              "and the training frames")
        return foundation_reference_energies(cfg, foundation, symbols, workdir=workdir,
                                             workers=workers, training_frames=training_frames)
    return isolated_e0s(cfg, symbols, workdir=workdir, workers=workers)


def isolated_e0s(cfg: CampaignConfig, symbols: Sequence[str], *, workdir: Path,
                 workers: Workers) -> dict[str, float]:
    """Isolated-atom E0s (eV) of ``symbols``, from ``e0s.json`` or computed and stored there.

    The oracle's energy of each free atom, minus the baseline's for Δ-ML. What
    ``e0s.json`` holds for the current settings is reused; the rest is computed
    (:func:`oracle_atom_energies`, :func:`baseline_atom_energies`) and the file
    rewritten atomically by the writer rank.

    Raises
    ------
    E0sFailed
        When an atom's calculation fails (the message names the element).
    """
    from alearn.training import Target

    path = Path(workdir) / E0S_FILE
    stored = workers.bcast(_read(path) if workers.is_writer else None) or {}
    oracle = _part(_oracle_provenance(cfg.oracle), stored.get("oracle"), symbols,
                   lambda todo: oracle_atom_energies(cfg.oracle, todo,
                                                     scratch=Path(workdir) / SCRATCH,
                                                     workers=workers))
    baseline = None
    if cfg.baseline is not None:
        bcfg = cfg.baseline
        baseline = _part(_baseline_provenance(bcfg), stored.get("baseline"), symbols,
                         lambda todo: baseline_atom_energies(bcfg, todo, workers=workers))
    e0s = {s: oracle["atoms"][s]["energy_eV"]
           - (baseline["atoms"][s]["energy_eV"] if baseline else 0.0) for s in symbols}
    record = _json({"recipe": RECIPE, "box_A": ATOM_BOX_A,
                    "target": Target.for_baseline(cfg.baseline).tag, "e0s_eV": e0s,
                    "oracle": oracle, "baseline": baseline})
    if workers.is_writer and {k: stored.get(k) for k in record} != record:
        write_json_atomic(path, {**record, "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    workers.barrier()
    what = "oracle − baseline" if baseline else cfg.oracle.kind
    log.info("E0s (isolated atoms, %s; %s): %s", what, path,
             ", ".join(f"{s} {e:.6f} eV" for s, e in e0s.items()))
    return e0s


# --------------------------------------------------------------------------- computing
def oracle_atom_energies(oc: OracleConfig, symbols: Sequence[str], *, scratch: Path,
                         workers: Workers) -> AtomEnergies:
    """The oracle's energy of each free atom, dealt over the ranks as labels are.

    Each atom is labeled like a selected structure (:func:`alearn.labeling.compute_outcome`:
    a worker process with ``oracle.timeout_s``, or inline; ``oracle.ranks_per_label``
    ranks; the GPAW retry ladder) with the settings of
    :func:`alearn.methods.isolated_atom`.

    Returns
    -------
    element → ``energy_eV`` (eV), ``magnetic_moment`` (μ_B), ``wall_s`` (s),
    ``attempts``, ``parameters``.

    Raises
    ------
    E0sFailed
        Naming the first element whose calculation failed.
    """
    from alearn.children import end_recorded
    from alearn.labeling import compute_outcome

    inline = oc.isolation == "inline"
    comm = (workers.gpaw_group_communicator(oc.ranks_per_label)
            if inline and oc.kind == "gpaw" and workers.size > 1 else None)
    if workers.is_writer:
        end_recorded(scratch)  # a killed run's workers, before their folders go
        shutil.rmtree(scratch, ignore_errors=True)
    workers.barrier()
    log.info("computing the isolated-atom energies of %s with the oracle (%s), once",
             ", ".join(symbols), oc.kind)
    _warn_generic(oc.kind, "oracle")

    def one(symbol: str) -> dict[str, Any]:
        atoms, settings = isolated_atom(oc.kind, section(oc), symbol)
        atom_cfg = oc.model_copy(update={oc.kind: settings})
        try:
            outcome = compute_outcome(z_of[symbol], atoms,
                                      make_oracle(atom_cfg, communicator=comm), atom_cfg,
                                      scratch, rank=workers.rank)
        except AlearnError as err:  # ConfigError: the worker could not build the oracle
            raise E0sFailed(_failure(symbol, atoms, f"the oracle ({oc.kind})", str(err))) \
                from None
        if outcome.label is None:
            where = f" (the worker's files: {scratch})" if not inline else ""
            raise E0sFailed(_failure(symbol, atoms, f"the oracle ({oc.kind})",
                                     f"{outcome.reason}{where}"))
        return _entry(atoms, method(oc.kind).settings_dict(settings), outcome.label.energy,
                      outcome.wall_s, len(outcome.attempts))

    values = workers.map(one, symbols, desc="isolated atoms",
                         group_size=oc.ranks_per_label if inline else 1,
                         concurrency=1 if inline else max(1, workers.threads
                                                          // oc.ranks_per_label))
    if workers.is_writer:
        shutil.rmtree(scratch, ignore_errors=True)
    return dict(zip(symbols, values, strict=True))


def baseline_atom_energies(bc: BaselineConfig, symbols: Sequence[str], *,
                           workers: Workers) -> AtomEnergies:
    """The Δ-ML baseline's energy of each free atom (in process, dealt over the ranks).

    Returns and raises as :func:`oracle_atom_energies`.
    """
    from alearn.baselines import compute_baseline, make_baseline

    comm = workers.gpaw_group_communicator(1) if bc.kind == "gpaw" and workers.size > 1 \
        else None
    _warn_generic(bc.kind, "baseline")

    def one(symbol: str) -> dict[str, Any]:
        atoms, settings = isolated_atom(bc.kind, section(bc), symbol)
        atom_cfg = bc.model_copy(update={bc.kind: settings})
        t0 = time.perf_counter()
        try:
            result = compute_baseline(atom_cfg, atoms,
                                      calc=make_baseline(atom_cfg, communicator=comm))
        except AlearnError as err:  # LabelFailed, or ConfigError from the calculator's import
            raise E0sFailed(_failure(symbol, atoms, f"the baseline ({bc.kind})", str(err))) \
                from None
        return _entry(atoms, method(bc.kind).settings_dict(settings), result.energy,
                      time.perf_counter() - t0, 1)

    values = workers.map(one, symbols, desc="isolated atoms (baseline)")
    return dict(zip(symbols, values, strict=True))


# --------------------------------------------------------------------------- helpers
def _entry(atoms: Atoms, parameters: dict[str, Any], energy: float, wall_s: float,
           attempts: int) -> dict[str, Any]:
    return {"energy_eV": float(energy),
            "magnetic_moment": float(atoms.get_initial_magnetic_moments()[0]),
            "wall_s": round(float(wall_s), 3), "attempts": attempts, "parameters": parameters}


def _failure(symbol: str, atoms: Atoms, who: str, reason: str) -> str:
    moment = atoms.get_initial_magnetic_moments()[0]
    return (f"committee.training.e0s 'isolated': the energy of an isolated {symbol} atom "
            f"(charge 0, spin moment {moment:g} μB) with {who} failed: {reason}. Give the "
            f"isolated-atom energies yourself as committee.training.e0s: {{{symbol}: <eV>, "
            "...} (every element of the systems; for Δ-ML oracle − baseline), or use "
            "e0s: average, and run again.")


def _warn_generic(kind: str, role: str) -> None:
    if kind == "calculator":
        log.warning("committee.training.e0s 'isolated': the %s is a plain calculator; its "
                    "isolated atoms run with its own keyword arguments (charge and spin as "
                    "they set them; the atom carries its Hund's-rule initial moment). Check "
                    "e0s.json, or give committee.training.e0s as a mapping.", role)


def _oracle_provenance(oc: OracleConfig) -> dict[str, Any]:
    settings = provenance(oc.kind, section(oc))
    return {"kind": oc.kind, "settings_hash": settings_hash(settings), "settings": settings}


def _baseline_provenance(bc: BaselineConfig) -> dict[str, Any]:
    from alearn.baselines import baseline_hash, baseline_settings

    return {"kind": bc.kind, "settings_hash": baseline_hash(bc),
            "settings": baseline_settings(bc)}


def _part(prov: dict[str, Any], stored: dict[str, Any] | None, symbols: Sequence[str],
          compute: Callable[[list[str]], AtomEnergies]) -> dict[str, Any]:
    """``prov`` with ``atoms``: the stored entries if made with the same settings hash,
    the missing ones computed."""
    known: AtomEnergies = {}
    if stored and stored.get("settings_hash") == prov["settings_hash"]:
        known = {s: v for s, v in (stored.get("atoms") or {}).items() if s in symbols}
    elif stored:
        log.warning("%s was made with other %s settings (hash %s, now %s): the isolated-atom "
                    "energies are computed again", E0S_FILE, prov["kind"],
                    stored.get("settings_hash"), prov["settings_hash"])
    todo = [s for s in symbols if s not in known]
    if todo:
        known.update(compute(todo))
    return _json({**prov, "atoms": {s: known[s] for s in symbols}})


def _read(path: Path) -> dict[str, Any] | None:
    """The stored record, or None when there is none, it is damaged or of another recipe."""
    if not path.is_file():
        return None
    try:
        stored = read_json(path)
    except (OSError, ValueError) as err:
        log.warning("%s cannot be read (%s); the isolated-atom energies are computed again",
                    path, err)
        return None
    if not isinstance(stored, dict) or stored.get("recipe") != RECIPE:
        log.warning("%s is of another recipe (%s, now %s); the isolated-atom energies are "
                    "computed again", path, stored.get("recipe") if isinstance(stored, dict)
                    else None, RECIPE)
        return None
    return stored


def _json(obj: Any) -> Any:
    """``obj`` as it reads back from JSON (lists for tuples), so records compare equal."""
    return json.loads(json.dumps(obj, default=str))
