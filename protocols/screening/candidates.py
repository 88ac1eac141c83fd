"""Candidates: parents × substitution rules (symmetry-distinct orderings), and files.

Each parent structure (a file's frames) goes through the substitution rules
in order (:class:`~.config.Substitution`): a full substitution renames one
element; a partial or aliovalent one picks sites, and each symmetry-distinct
choice (:mod:`.symmetry`) is a candidate, at most ``max_orderings`` of them,
those of lowest Ewald energy first (pymatgen's ``EwaldSummation`` with the
formal charges, when every element has one). Candidates from files are taken
as they are. Finally duplicates are removed with pymatgen's
``StructureMatcher`` (within each reduced formula), keeping the first.

Names are deterministic (``parent.rule.rule~k``, k the ordering), so a
rerun generates the same candidates under the same names.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import ase.db
import ase.io
import numpy as np
from ase import Atoms

from alearn.errors import ConfigError

from .config import CandidatesConfig, DedupConfig, FileSource, Substitution
from .symmetry import distinct_configurations, site_permutations

log = logging.getLogger(__name__)

__all__ = ["Candidate", "deduplicate", "generate_candidates", "read_structures", "substitute"]

_VACANCY = "X"


@dataclass(frozen=True)
class Candidate:
    """One structure to screen.

    Attributes
    ----------
    name
        Unique, deterministic name (letters, digits and ``._~+-``).
    atoms
        The unrelaxed structure.
    origin
        How it was made: ``parent``, ``file`` or the rules applied.
    """

    name: str
    atoms: Atoms
    origin: str


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._~+-]", "_", name)


def read_structures(source: FileSource, base_dir: Path) -> list[tuple[str, Atoms]]:
    """(name, structure) of every frame ``source`` selects; names from ``info['name']``
    or the file's stem and the frame number."""
    path = source.file if source.file.is_absolute() else base_dir / source.file
    if not path.is_file():
        raise ConfigError(f"{path}: structure file not found (give a path relative to the "
                          "screen YAML file)")
    try:
        frames = ase.io.read(str(path), index=source.index, format=source.format,
                             parallel=False)
    except Exception as err:  # noqa: BLE001 - ASE raises many kinds for unreadable files
        raise ConfigError(f"{path}: cannot be read as structures ({type(err).__name__}: "
                          f"{err}); check the file and its format") from None
    frames = frames if isinstance(frames, list) else [frames]
    if (source.format or path.suffix.lstrip(".")) == "db":  # names are key-value pairs there
        names = [row.get("name") for row in ase.db.connect(str(path)).select()]
        picked = names[ase.io.formats.string2index(source.index)]
        for atoms, name in zip(frames, picked if isinstance(picked, list) else [picked],
                               strict=True):
            if name:
                atoms.info["name"] = name
    out = []
    for k, atoms in enumerate(frames):
        if not atoms.pbc.all():
            raise ConfigError(f"{path} frame {k}: not periodic in 3D; screening needs crystals")
        atoms = atoms.repeat(source.repeat) if source.repeat != (1, 1, 1) else atoms.copy()
        atoms.calc = None
        name = atoms.info.get("name") or (path.stem if len(frames) == 1 else f"{path.stem}_{k}")
        atoms.info = {}
        out.append((_safe(str(name)), atoms))
    return out


def _charge(symbols: Iterable[str], charges: dict[str, float]) -> float | None:
    try:
        return float(sum(charges[s] for s in symbols if s != _VACANCY))
    except KeyError:
        return None


def _groups(atoms: Atoms, rule: Substitution) -> list[tuple[list[int], int, int]]:
    """(sites, count, label) of the rule on ``atoms``: label 1 the new species, 2+ vacancies."""
    symbols = atoms.get_chemical_symbols()
    groups = []
    if rule.site is not None:
        sites = [i for i, s in enumerate(symbols) if s == rule.site]
        count = rule.count if rule.count is not None else int(round(rule.fraction * len(sites)))
        groups.append((sites, count, 1))
    for k, (species, count) in enumerate(sorted(rule.vacancies.items()), start=2):
        groups.append(([i for i, s in enumerate(symbols) if s == species], count, k))
    for sites, count, _ in groups:
        if count < 1 or count > len(sites):
            raise ValueError(f"needs {count} of {len(sites)} sites")
    return groups


def _apply_labels(atoms: Atoms, rule: Substitution, labels: np.ndarray) -> Atoms:
    out = atoms.copy()
    symbols = out.get_chemical_symbols()
    for i in np.flatnonzero(labels == 1):
        symbols[i] = rule.by
    for i in np.flatnonzero(labels >= 2):
        symbols[i] = _VACANCY
    keep = [i for i, s in enumerate(symbols) if s != _VACANCY]
    out.set_chemical_symbols([s if s != _VACANCY else "H" for s in symbols])
    return out[keep]


def _ewald_order(structures: Sequence[Atoms], charges: dict[str, float]) -> list[int]:
    """Indices of ``structures`` by increasing Ewald energy (unchanged order without charges)."""
    if not structures or any(s not in charges for a in structures
                             for s in a.get_chemical_symbols()):
        return list(range(len(structures)))
    from pymatgen.core.ewald import EwaldSummation
    from pymatgen.io.ase import AseAtomsAdaptor

    energies = []
    for atoms in structures:
        struct = AseAtomsAdaptor.get_structure(atoms)
        struct.add_oxidation_state_by_element({s: charges[s] for s in struct.symbol_set})
        energies.append(EwaldSummation(struct).total_energy)
    return [int(i) for i in np.argsort(energies, kind="stable")]


def substitute(name: str, atoms: Atoms, rule: Substitution, *, charges: dict[str, float],
               symprec: float = 0.01, limit: int = 200_000) -> list[Candidate]:
    """The candidates ``rule`` makes from one structure (none when it does not apply).

    Raises
    ------
    ConfigError
        When the rule changes the charge of a structure whose elements all have one.
    """
    symbols = atoms.get_chemical_symbols()
    if rule.replace is not None:
        if not set(rule.replace) & set(symbols):
            return []
        new = atoms.copy()
        new.set_chemical_symbols([rule.replace.get(s, s) for s in symbols])
        structures = [new]
    else:
        try:
            groups = _groups(atoms, rule)
        except ValueError:
            return []  # the structure lacks the sites this rule needs
        perms = site_permutations(atoms, symprec=symprec)
        configs = distinct_configurations(perms, groups, limit=limit)
        structures = [_apply_labels(atoms, rule, c) for c in configs]
    before, after = _charge(symbols, charges), _charge(
        structures[0].get_chemical_symbols(), charges) if structures else None
    if before is not None and after is not None and abs(after - before) > 1e-6 \
            and not rule.allow_charge_change:
        raise ConfigError(f"substitution {rule.name}: changes the charge of {name} by "
                          f"{after - before:+g} e; add charge-compensating vacancies (e.g. "
                          "vacancies: {Li: 1}), check candidates.charges, or set "
                          "allow_charge_change: true")
    order = _ewald_order(structures, charges)[: rule.max_orderings]
    out = []
    for k, idx in enumerate(order):
        new = structures[idx]
        new.set_cell(new.cell * rule.lattice_scale, scale_atoms=True)
        suffix = f"~{k}" if len(structures) > 1 else ""
        out.append(Candidate(_safe(f"{name}.{rule.name}{suffix}"), new, rule.name))
    return out


def deduplicate(candidates: Sequence[Candidate], dedup: DedupConfig) -> list[Candidate]:
    """``candidates`` without the structures pymatgen's StructureMatcher finds equal to an
    earlier one (compared within each reduced formula); the first of each kind is kept."""
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.io.ase import AseAtomsAdaptor

    matcher = StructureMatcher(ltol=dedup.ltol, stol=dedup.stol, angle_tol=dedup.angle_tol,
                               primitive_cell=True, scale=True, attempt_supercell=True)
    kept: dict[str, list[tuple[Candidate, object]]] = {}
    out = []
    for cand in candidates:
        struct = AseAtomsAdaptor.get_structure(cand.atoms)
        same_formula = kept.setdefault(struct.composition.reduced_formula, [])
        twin = next((c for c, s in same_formula if matcher.fit(s, struct)), None)
        if twin is not None:
            log.info("candidate %s is the same structure as %s: dropped", cand.name, twin.name)
            continue
        same_formula.append((cand, struct))
        out.append(cand)
    return out


def generate_candidates(cfg: CandidatesConfig, base_dir: Path) -> list[Candidate]:
    """All candidates of a screen, deduplicated, in a deterministic order."""
    parents = [Candidate(n, a, "parent") for src in cfg.parents
               for n, a in read_structures(src, base_dir)]
    made: list[Candidate] = []
    for rule in cfg.substitutions:
        inputs = parents + (made if rule.apply_to == "all" else [])
        for parent in inputs:
            for cand in substitute(parent.name, parent.atoms, rule, charges=cfg.charges,
                                   symprec=cfg.dedup.symprec, limit=cfg.max_enumerated):
                origin = cand.origin if parent.origin == "parent" else \
                    f"{parent.origin}+{cand.origin}"
                made.append(Candidate(cand.name, cand.atoms, origin))
    files = [Candidate(n, a, "file") for src in cfg.files for n, a in read_structures(src,
                                                                                       base_dir)]
    everything = (parents if cfg.include_parents else []) + made + files
    names = [c.name for c in everything]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"candidates: names repeated {dupes[:5]}; give the structures "
                          "distinct info['name'] or file names")
    unique = deduplicate(everything, cfg.dedup)
    log.info("%d candidates (%d generated, %d from files; %d duplicates dropped)",
             len(unique), len(made) + (len(parents) if cfg.include_parents else 0),
             len(files), len(everything) - len(unique))
    return unique
