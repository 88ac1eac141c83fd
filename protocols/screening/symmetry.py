"""Symmetry-distinct site orderings of a parent structure (spglib's space group).

A partial substitution or a set of vacancies is a choice of sites; two
choices are the same candidate when a symmetry operation of the parent maps
one onto the other. spglib gives the operations (rotation R, translation t in
fractional coordinates); each becomes a permutation of the sites
(x → R x + t, matched modulo lattice vectors). Every configuration is a
vector of labels per site; its canonical form is the lexicographically
smallest image over all operations, and the distinct canonical forms are the
distinct orderings.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence

import numpy as np
import spglib
from ase import Atoms

from alearn.errors import ConfigError

__all__ = ["distinct_configurations", "site_permutations"]


def site_permutations(atoms: Atoms, *, symprec: float = 0.01) -> np.ndarray:
    """The parent's symmetry operations as site permutations.

    Parameters
    ----------
    atoms
        A periodic structure.
    symprec
        spglib's distance tolerance (Å).

    Returns
    -------
    Integer array of shape (n_ops, N): row k maps site i to site ``perm[k, i]``.
    """
    cell = (atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers)
    with warnings.catch_warnings():  # spglib 2.5+ on its legacy error handling
        warnings.simplefilter("ignore", DeprecationWarning)
        ops = spglib.get_symmetry(cell, symprec=symprec)
    if ops is None:
        return np.arange(len(atoms))[None, :]
    frac = atoms.get_scaled_positions()
    perms = []
    for rot, trans in zip(ops["rotations"], ops["translations"], strict=True):
        image = frac @ rot.T + trans
        delta = image[:, None, :] - frac[None, :, :]
        delta -= np.round(delta)
        dist = np.linalg.norm(delta @ atoms.cell.array, axis=2)
        target = dist.argmin(axis=1)
        if np.any(dist[np.arange(len(atoms)), target] > 2 * symprec) or \
                len(set(target.tolist())) != len(atoms):
            continue  # not an exact operation at this tolerance
        perms.append(target)
    return np.unique(np.array(perms), axis=0) if perms else np.arange(len(atoms))[None, :]


def _choices(groups: Sequence[tuple[Sequence[int], int, int]], n_sites: int,
             limit: int) -> np.ndarray:
    """Every labelling that puts ``count`` labels ``label`` on sites of each group.

    ``groups`` holds (allowed sites, count, label); groups may share sites (a
    site then gets at most one label). Returns (n_configs, n_sites) labels, 0 = unchanged.
    """
    total = 1
    for sites, count, _ in groups:
        total *= math.comb(len(sites), count)
    if total > limit:
        raise ConfigError(f"{total} site configurations to enumerate (more than "
                          f"candidates.max_enumerated = {limit}); use a smaller cell or "
                          "count, or raise the limit")
    configs = []
    for picks in itertools.product(*(itertools.combinations(sites, count)
                                     for sites, count, _ in groups)):
        flat = [s for p in picks for s in p]
        if len(set(flat)) != len(flat):
            continue  # two labels on one site
        labels = np.zeros(n_sites, dtype=np.int16)
        for (_, _, label), chosen in zip(groups, picks, strict=True):
            labels[list(chosen)] = label
        configs.append(labels)
    return np.array(configs, dtype=np.int16).reshape(-1, n_sites)


def distinct_configurations(perms: np.ndarray,
                            groups: Sequence[tuple[Sequence[int], int, int]], *,
                            limit: int = 200_000) -> list[np.ndarray]:
    """Symmetry-distinct labellings of the sites.

    Parameters
    ----------
    perms
        (n_ops, N) site permutations (:func:`site_permutations`).
    groups
        (allowed sites, count, label ≥ 1) per kind of change, e.g. (Cl sites, 4,
        1) for 4 Br on Cl sites and (Li sites, 1, 2) for one Li vacancy.
    limit
        Most configurations enumerated before a ConfigError.

    Returns
    -------
    One label vector (N,) per distinct ordering, in a fixed order (sorted
    canonical forms), each the canonical representative of its orbit.
    """
    configs = _choices(groups, perms.shape[1], limit)
    if not len(configs):
        return []
    canonical = {}
    chunk = max(1, 2_000_000 // (perms.size or 1))
    for start in range(0, len(configs), chunk):
        block = configs[start:start + chunk]
        # image[c, k, j] = label of the site that op k sends to j: labels[inverse]
        images = np.empty((len(block), len(perms), perms.shape[1]), dtype=np.int16)
        images[:, np.arange(len(perms))[:, None], perms] = block[:, None, :]
        for images_c in images:
            order = np.lexsort(images_c.T[::-1])
            best = images_c[order[0]]
            canonical.setdefault(best.tobytes(), best)
    return [canonical[k] for k in sorted(canonical)]
