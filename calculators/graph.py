"""MACE model inputs built directly: vesin neighbour lists, reused tensors, many structures.

mace-torch's own path (``config_from_atoms`` → ``AtomicData`` → ``DataLoader`` →
batch) costs milliseconds per step for a small structure. :class:`GraphBuilder`
builds the same dictionary of tensors that mace-torch's models read
(``positions``, ``node_attrs``, ``edge_index``, ``shifts``, ``unit_shifts``,
``cell``, ``batch``, ``ptr``, ``head``) straight from ASE ``Atoms``:

* the neighbour list comes from vesin (the same pairs as mace-torch's matscipy
  list: sender ``i``, receiver ``j``, vector ``r_j - r_i + S·cell``, no
  self-pair without a shift; cells of non-periodic directions extended as
  mace-torch does);
* the per-atom tensors that depend only on the atomic numbers (one-hot
  ``node_attrs``, ``batch``, ``ptr``, ``head``) are built once per composition
  and reused while it stays the same (every MD step);
* several structures become one graph (one forward pass for all), with
  ``batch``/``ptr`` telling them apart;
* optionally padded to fixed atom and edge budgets (one extra fake graph, as
  mace-torch pads for compiled models), so a compiled model is not recompiled
  when the number of edges changes from step to step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms

#: edge budgets of padded graphs are rounded up to this multiple, with this headroom
EDGE_PAD_MULTIPLE = 64
EDGE_PAD_HEADROOM = 1.25


@dataclass(frozen=True)
class ModelInputs:
    """The inputs of one forward pass over ``n_graphs`` real structures.

    Attributes
    ----------
    data
        mace-torch's batch dictionary (tensors on the model's device).
    ptr
        (G + 1,) first atom of each real structure, as NumPy (the last entry is
        the number of real atoms).
    n_graphs
        Number of real structures G (a padded input has one fake graph more).
    """

    data: dict[str, torch.Tensor]
    ptr: np.ndarray
    n_graphs: int

    @property
    def n_atoms(self) -> int:
        """Number of real atoms (padding excluded)."""
        return int(self.ptr[-1])


def neighbour_list(atoms: Atoms, cutoff: float, *, calculator=None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """mace-torch's edges of ``atoms``: sender, receiver (E,) and unit shifts (E, 3); and the
    cell used for the shifts (non-periodic directions extended as mace-torch extends them).

    Parameters
    ----------
    calculator
        A ``vesin.NeighborList`` for ``cutoff`` to reuse (a new one when None).

    Returns
    -------
    edge_index (2, E) int64, unit_shifts (E, 3) float64, cell (3, 3) float64
    """
    if calculator is None:
        import vesin

        calculator = vesin.NeighborList(cutoff=cutoff, full_list=True)
    positions = atoms.positions
    pbc = [bool(p) for p in atoms.pbc]
    cell = np.array(atoms.cell.array, dtype=float)
    if not cell.any():
        cell = np.eye(3)
    extent = (np.abs(positions).max() + 1.0) * 5.0 * cutoff if len(positions) else 1.0
    for k in range(3):
        if not pbc[k]:
            cell[k] = 0.0
            cell[k, k] = extent
    box = cell if any(pbc) else np.zeros((3, 3))
    i, j, shifts = calculator.compute(positions, box, pbc, "ijS")
    edge_index = np.stack((i, j)).astype(np.int64)
    return edge_index, np.asarray(shifts, dtype=float), cell


class GraphBuilder:
    """Builds mace-torch's input dictionary for one or many structures.

    Parameters
    ----------
    atomic_numbers
        The models' elements, in the models' order (``model.atomic_numbers``).
    r_max
        Cutoff (Å).
    dtype, device
        Of the float tensors and of all tensors.
    head
        Index of the model head to use (0 for single-head models).
    pad
        Pad to fixed atom and edge budgets (for compiled models): the budgets
        grow, by whole multiples of 64 edges, only when a structure needs more.
    """

    def __init__(self, atomic_numbers: Sequence[int], r_max: float, *,
                 dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu",
                 head: int = 0, pad: bool = False) -> None:
        self.r_max = float(r_max)
        self.dtype = dtype
        self.device = torch.device(device)
        self.head = int(head)
        self.pad = pad
        self._index = np.full(max(atomic_numbers) + 1, -1, dtype=np.int64)
        self._index[np.asarray(atomic_numbers, dtype=np.int64)] = np.arange(len(atomic_numbers))
        self._n_elements = len(atomic_numbers)
        import vesin

        self._neighbours = vesin.NeighborList(cutoff=self.r_max, full_list=True)
        self._static_key: tuple | None = None
        self._static: dict[str, torch.Tensor] = {}
        self._pad_atoms = 0
        self._pad_edges = 0

    # ------------------------------------------------------------------ public
    def build(self, structures: Sequence[Atoms]) -> ModelInputs:
        """The inputs of one forward pass over ``structures`` (one graph each)."""
        if not structures:
            raise ValueError("GraphBuilder.build needs at least one structure")
        numbers = [s.numbers for s in structures]
        self._check_elements(numbers)
        counts = np.array([len(n) for n in numbers])
        ptr = np.concatenate(([0], np.cumsum(counts)))
        edges, unit_shifts, cells = [], [], []
        for offset, atoms in zip(ptr[:-1], structures):
            edge_index, shifts, cell = neighbour_list(atoms, self.r_max,
                                                     calculator=self._neighbours)
            edges.append(edge_index + offset)
            unit_shifts.append(shifts)
            cells.append(cell)
        positions = np.concatenate([s.positions for s in structures])
        graph = {"edge_index": np.concatenate(edges, axis=1),
                 "unit_shifts": np.concatenate(unit_shifts),
                 "shifts": np.concatenate([u @ c for u, c in zip(unit_shifts, cells)]),
                 "positions": positions, "cell": np.concatenate(cells)}
        n_graphs = len(structures)
        if self.pad:
            graph = self._padded(graph, int(ptr[-1]))
        data = self._static_tensors(numbers, padded_atoms=len(graph["positions"]))
        data.update(self._float_tensors(graph))
        data["edge_index"] = torch.from_numpy(graph["edge_index"]).to(self.device)
        return ModelInputs(data=data, ptr=ptr, n_graphs=n_graphs)

    # ------------------------------------------------------------------ parts
    def _check_elements(self, numbers: list[np.ndarray]) -> None:
        allowed = set(np.flatnonzero(self._index >= 0).tolist())
        unknown = sorted(set(np.concatenate(numbers).tolist()) - allowed)
        if unknown:
            from ase.data import chemical_symbols

            raise ValueError(f"the committee was trained without elements "
                             f"{[chemical_symbols[z] for z in unknown]}")

    def _float_tensors(self, graph: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return {key: torch.from_numpy(np.ascontiguousarray(graph[key])).to(
                    device=self.device, dtype=self.dtype)
                for key in ("positions", "unit_shifts", "shifts", "cell")}

    def _static_tensors(self, numbers: list[np.ndarray], *,
                        padded_atoms: int) -> dict[str, torch.Tensor]:
        """node_attrs, batch, ptr and head: rebuilt only when the composition changes."""
        key = (tuple(n.tobytes() for n in numbers), padded_atoms)
        if key != self._static_key:
            z = np.concatenate(numbers)
            n_real, n_graphs = len(z), len(numbers)
            index = self._index[z]
            one_hot = np.zeros((padded_atoms, self._n_elements))
            one_hot[np.arange(n_real), index] = 1.0
            one_hot[n_real:, 0] = 1.0  # fake atoms: the first element, as mace-torch pads
            graph_of = np.repeat(np.arange(n_graphs), [len(n) for n in numbers])
            ptr = np.concatenate(([0], np.cumsum([len(n) for n in numbers])))
            if padded_atoms > n_real:
                graph_of = np.concatenate((graph_of, np.full(padded_atoms - n_real, n_graphs)))
                ptr = np.concatenate((ptr, [padded_atoms]))
            total = len(ptr) - 1
            self._static = {
                "node_attrs": torch.from_numpy(one_hot).to(self.device, self.dtype),
                "batch": torch.from_numpy(graph_of).to(self.device),
                "ptr": torch.from_numpy(ptr).to(self.device),
                "head": torch.full((total,), self.head, dtype=torch.long, device=self.device),
            }
            self._static_key = key
        return dict(self._static)

    def _padded(self, graph: dict[str, np.ndarray], n_real: int) -> dict[str, np.ndarray]:
        """Append one fake graph so that atoms and edges fill fixed budgets.

        The fake atoms sit at the origin; the fake edges are self-loops of the last
        fake atom shifted by 2 r_max (beyond the cutoff: they contribute nothing).
        """
        n_edges = graph["edge_index"].shape[1]
        self._pad_atoms = max(self._pad_atoms, n_real + 1)
        if n_edges >= self._pad_edges:
            self._pad_edges = _round_up(int(n_edges * EDGE_PAD_HEADROOM) + 1, EDGE_PAD_MULTIPLE)
        extra_atoms, extra_edges = self._pad_atoms - n_real, self._pad_edges - n_edges
        last = self._pad_atoms - 1
        scale = max(2.0 * self.r_max, 1.0)
        unit = np.zeros((extra_edges, 3))
        unit[:, 0] = 1.0
        return {"positions": np.concatenate((graph["positions"], np.zeros((extra_atoms, 3)))),
                "edge_index": np.concatenate(
                    (graph["edge_index"], np.full((2, extra_edges), last)), axis=1),
                "unit_shifts": np.concatenate((graph["unit_shifts"], unit)),
                "shifts": np.concatenate((graph["shifts"], unit * scale)),
                "cell": np.concatenate((graph["cell"], np.eye(3) * scale))}


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple
