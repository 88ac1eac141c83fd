"""GraphBuilder: the same model inputs as mace-torch's AtomicData, batched and padded graphs
giving the same outputs as one structure at a time."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import bulk, fcc111, molecule

from alearn.calculators.graph import GraphBuilder
from alearn.calculators.members import CommitteeModels

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from md_models import electrolyte_box, water_cluster  # noqa: E402

ELEMENTS = [1, 3, 8, 9, 29]


def _structures():
    cu = bulk("Cu", cubic=True).repeat((2, 1, 1))  # cell shorter than the cutoff
    cu.rattle(0.1, seed=3)
    slab = fcc111("Cu", (2, 2, 2), vacuum=4.0)
    slab.pbc = (True, True, False)
    return {"cu": cu, "slab": slab, "water": water_cluster(4), "box": electrolyte_box(12, 2),
            "h2o": molecule("H2O")}


@pytest.mark.parametrize("name", ["cu", "slab", "water", "box", "h2o"])
def test_inputs_match_mace_atomic_data(name):
    from mace import data as mace_data
    from mace.tools import AtomicNumberTable, torch_geometric, torch_tools

    atoms = _structures()[name]
    config = mace_data.config_from_atoms(atoms, key_specification=mace_data.KeySpecification())
    with torch_tools.default_dtype(torch.float64):
        graph = mace_data.AtomicData.from_config(config, z_table=AtomicNumberTable(ELEMENTS),
                                                 cutoff=4.5, heads=["Default"])
    theirs = next(iter(torch_geometric.dataloader.DataLoader([graph], batch_size=1))).to_dict()
    ours = GraphBuilder(ELEMENTS, 4.5).build([atoms]).data

    def edges(d):
        return sorted(zip(d["edge_index"][0].tolist(), d["edge_index"][1].tolist(),
                          map(tuple, d["unit_shifts"].round().int().tolist())))

    assert edges(ours) == edges(theirs)
    assert len(ours["edge_index"][0]) == len(theirs["edge_index"][0])
    order_o = np.lexsort(np.c_[ours["edge_index"].T.numpy(), ours["unit_shifts"].numpy()].T)
    order_t = np.lexsort(np.c_[theirs["edge_index"].T.numpy(), theirs["unit_shifts"].numpy()].T)
    np.testing.assert_allclose(ours["shifts"][order_o], theirs["shifts"][order_t], atol=1e-12)
    for key in ("positions", "node_attrs", "batch", "ptr", "head"):
        torch.testing.assert_close(ours[key], theirs[key], msg=key)
    if atoms.pbc.all():
        torch.testing.assert_close(ours["cell"], theirs["cell"])


def test_many_structures_as_one_graph_and_padding(untrained_committee):
    """Several structures in one forward pass, and a padded input, give each structure's
    own energies, forces and stress."""
    models = CommitteeModels.load(untrained_committee)
    structures = [_structures()["box"], water_cluster(2, seed=1), _structures()["cu"]]
    builder = GraphBuilder(models.atomic_numbers, models.r_max)
    together = models.evaluate(builder.build(structures), stress=True)
    padded = GraphBuilder(models.atomic_numbers, models.r_max, pad=True)
    start = 0
    for g, atoms in enumerate(structures):
        alone = models.evaluate(builder.build([atoms]), stress=True)
        alone_padded = models.evaluate(padded.build([atoms]), stress=True)
        atoms_slice = slice(start, start + len(atoms))
        start += len(atoms)
        for out in (together, alone_padded):
            i = g if out is together else 0
            np.testing.assert_allclose(out.energies[:, i], alone.energies[:, 0], atol=1e-10)
            forces = out.forces[:, atoms_slice] if out is together else out.forces
            np.testing.assert_allclose(forces, alone.forces, atol=1e-10)
            if atoms.pbc.all():
                np.testing.assert_allclose(out.stress[:, i], alone.stress[:, 0], atol=1e-12)
    assert padded.build([structures[0]]).data["positions"].shape[0] > len(structures[0])


def test_unknown_element_is_named():
    with pytest.raises(ValueError, match=r"without elements \['Na'\]"):
        GraphBuilder([1, 8], 4.0).build([molecule("NaCl")[:1] + molecule("H2O")])
