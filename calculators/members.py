"""The K MACE models of a committee, evaluated together on one shared input.

:class:`CommitteeModels` holds the members in one precision on one device and
evaluates any subset of them on a :class:`~alearn.calculators.graph.ModelInputs`
(one structure or many as one graph):

* eager (default): each member runs its forward pass on the shared input with
  its own copy of the positions (and, for the stress, of the strain); one
  backward pass then gives every member's forces and stress at once;
* compiled (``compile_mode``, e.g. ``"default"``): mace-torch's own compile
  preparation (``mace.tools.compile.prepare``, then ``torch.compile`` of the
  energy; the forces and stress by the same one backward pass, compiled by
  AOTAutograd), each member compiled once, on first use, and reused for every
  later evaluation by whoever holds this object (walkers, windows, runs in one
  process). Compilation that fails, at any evaluation, is logged and the
  members fall back to eager evaluation.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from alearn.calculators.graph import GraphBuilder, ModelInputs
from alearn.calculators.model_files import announce_load

log = logging.getLogger(__name__)

Precision = Literal["float32", "float64"]
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class ModelFileError(ValueError):
    """A model file cannot be read as a MACE model; the message names the file."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)


def load_model(path: Path, device: str) -> torch.nn.Module:
    """A mace-torch ``*.model`` file as a module in eval mode without parameter gradients."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"committee model not found: {path}")
    announce_load(path)
    try:
        model = torch.load(path, map_location=device, weights_only=False)
    except Exception as err:  # noqa: BLE001 - pickle, zip and torch errors alike
        raise ModelFileError(path, f"not a readable model file ({type(err).__name__}: "
                                   f"{err})") from None
    if not isinstance(model, torch.nn.Module):
        raise ModelFileError(path, f"holds a {type(model).__name__}, not a MACE model")
    return _frozen(model)


def _frozen(model: torch.nn.Module) -> torch.nn.Module:
    for param in model.parameters():
        param.requires_grad = False
    return model.eval()


@dataclass(frozen=True)
class MemberOutputs:
    """Predictions of M members for G structures (real atoms and graphs only).

    Attributes
    ----------
    energies
        (M, G) total energies (eV).
    forces
        (M, N, 3) forces (eV/Å), N the atoms of all G structures in order.
    stress
        (M, G, 3, 3) stress (eV/Å³), or None when not asked for.
    """

    energies: np.ndarray
    forces: np.ndarray
    stress: np.ndarray | None


class CommitteeModels:
    """Members of one committee (same elements and cutoff) ready for inference.

    Parameters
    ----------
    models
        mace-torch models (e.g. from :func:`load_model`), all for the same elements.
    names
        One label per model for messages (e.g. file paths).
    device
        Torch device of the models and inputs, ``"cpu"`` or ``"cuda"``.
    dtype
        ``"float32"`` or ``"float64"`` to convert the members to (inference only;
        training keeps its own precision); None keeps the models' own.
    compile_mode
        None (eager) or a ``torch.compile`` mode such as ``"default"``.
    """

    def __init__(self, models: Sequence[torch.nn.Module], *, names: Sequence[str] | None = None,
                 device: str = "cpu", dtype: Precision | None = None,
                 compile_mode: str | None = None) -> None:
        if not models:
            raise ValueError("a committee needs at least one model")
        names = [str(n) for n in (names or [f"member {k}" for k in range(len(models))])]
        self.names = names
        self.device = device
        target = _DTYPES[dtype] if dtype else next(models[0].parameters()).dtype
        self.models = [_frozen(m.to(device=device, dtype=target)) for m in models]
        self.dtype = target
        first = self.models[0]
        self.r_max = float(first.r_max)
        self.atomic_numbers = [int(z) for z in first.atomic_numbers]
        for name, model in zip(names[1:], self.models[1:]):
            if [int(z) for z in model.atomic_numbers] != self.atomic_numbers:
                raise ValueError(f"{name}: elements differ from {names[0]}")
            if float(model.r_max) != self.r_max:
                raise ValueError(f"{name}: r_max differs from {names[0]}")
        self.heads = list(getattr(first, "heads", ["Default"]))
        self.compile_mode = compile_mode
        self._compiled: list[torch.nn.Module | None] = [None] * len(self.models)

    @classmethod
    def load(cls, paths: Sequence[str | Path], *, device: str = "cpu",
             dtype: Precision | None = None, compile_mode: str | None = None) -> CommitteeModels:
        """Read mace-torch model files (see :func:`load_model`)."""
        paths = [Path(p) for p in paths]
        return cls([load_model(p, device) for p in paths], names=[str(p) for p in paths],
                   device=device, dtype=dtype, compile_mode=compile_mode)

    def __len__(self) -> int:
        return len(self.models)

    @property
    def compiled(self) -> bool:
        """True while the members run compiled (False after a fall-back to eager)."""
        return self.compile_mode is not None

    def graph_builder(self) -> GraphBuilder:
        """A :class:`GraphBuilder` for these members (padded when they run compiled)."""
        head = self.heads.index("Default") if "Default" in self.heads else len(self.heads) - 1
        return GraphBuilder(self.atomic_numbers, self.r_max, dtype=self.dtype,
                            device=self.device, head=head, pad=self.compiled)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, inputs: ModelInputs, members: Sequence[int] | None = None, *,
                 stress: bool = False) -> MemberOutputs:
        """Energies, forces (and stress) of ``members`` (default: all) on ``inputs``."""
        members = list(range(len(self.models))) if members is None else list(members)
        if self.compiled:
            try:
                with _inductor_settings(self.device):
                    return self._outputs([self._compiled_member(m) for m in members], inputs,
                                         stress)
            except Exception as err:  # noqa: BLE001 - any compiler failure: run eagerly
                log.warning("compiled MACE evaluation failed (%s: %s); running the members "
                            "eagerly from now on", type(err).__name__, str(err)[:500])
                self.compile_mode = None
                self._compiled = [None] * len(self.models)
        return self._outputs([self.models[m] for m in members], inputs, stress)

    @staticmethod
    def _outputs(modules: list[torch.nn.Module], inputs: ModelInputs,
                 stress: bool) -> MemberOutputs:
        """Forward passes of ``modules`` on the shared input, then one backward pass.

        Each module gets its own positions (and strain, for the stress) as leaves;
        the gradient of the summed energies gives every module's forces and virial.
        The strain is made here, outside the model, so that a compiled model's
        gradient is taken by autograd like an eager one's (a gradient taken inside a
        compiled graph, mace-torch's ``training=True`` recipe, gave forces off by
        ~1e-3 eV/Å with torch 2.13's inductor on a CPU).
        """
        data, stress = inputs.data, bool(stress)  # a NumPy bool would break torch.compile
        n_graphs = int(data["ptr"].numel()) - 1
        energies, leaves, strains = [], [], []
        for module in modules:
            batch = dict(data)
            batch["positions"] = data["positions"].detach().requires_grad_(True)
            leaves.append(batch["positions"])
            if stress:
                batch["displacement"] = torch.zeros(
                    (n_graphs, 3, 3), dtype=data["positions"].dtype,
                    device=data["positions"].device, requires_grad=True)
                strains.append(batch["displacement"])
            out = module(batch, training=False, compute_force=False,
                         compute_displacement=stress)
            energies.append(out["energy"])
        total = torch.stack([e.sum() for e in energies]).sum()
        grads = torch.autograd.grad(total, leaves + strains)
        forces = -torch.stack(grads[:len(modules)])
        stresses = None
        if stress:
            volume = torch.linalg.det(data["cell"].view(-1, 3, 3)).abs().view(1, -1, 1, 1)
            stresses = torch.stack(grads[len(modules):]) / volume
            stresses = torch.where(stresses.abs() < 1e10, stresses, torch.zeros_like(stresses))
        return _outputs(inputs, torch.stack(energies), forces, stresses)

    def _compiled_member(self, m: int) -> torch.nn.Module:
        """Member ``m`` prepared and compiled by mace-torch's recipe (once)."""
        if self._compiled[m] is None:
            from mace.tools import torch_tools
            from mace.tools.compile import prepare
            from mace.tools.scripts_utils import extract_model

            log.info("compiling %s (torch.compile mode %s)", self.names[m], self.compile_mode)
            # extract_model rebuilds the module in the default dtype: scope it to ours
            with torch_tools.default_dtype(self.dtype):
                prepared = prepare(extract_model)(model=self.models[m],
                                                  map_location=self.device)
            _allow_recompiles()
            self._compiled[m] = torch.compile(_frozen(prepared), mode=self.compile_mode,
                                              fullgraph=True)
        return self._compiled[m]


#: dynamo cache entries allowed per code object (torch's default is 8)
RECOMPILE_LIMIT = 64


def _allow_recompiles() -> None:
    """Every compiled member, and every padded size it meets, is one entry in dynamo's
    cache of the models' shared forward code: torch's default limit of 8 is reached by
    a committee of 4 at its second structure size (or the next iteration's committee),
    after which the fullgraph compile fails and the members fall back to eager."""
    import torch._dynamo.config as dynamo

    dynamo.recompile_limit = max(dynamo.recompile_limit, RECOMPILE_LIMIT)


def _inductor_settings(device: str):
    """Inductor settings for compiling and running the members.

    On a CPU the generated C++ kernels run on one thread (library calls such as
    matrix products keep all of torch's threads): with torch 2.13 the
    multi-threaded kernels of these models gave forces off by ~1e-3 eV/Å (the
    same model, the same inputs, exact with one thread and in eager mode).
    """
    from torch._inductor import config

    return config.patch({"cpp.threads": 1}) if str(device).startswith("cpu") else nullcontext()


def _outputs(inputs: ModelInputs, energies: torch.Tensor, forces: torch.Tensor,
             stresses: torch.Tensor | None) -> MemberOutputs:
    """Real graphs and atoms only, as float64 NumPy arrays."""
    g, n = inputs.n_graphs, inputs.n_atoms

    def numpy(t: torch.Tensor) -> np.ndarray:
        return t.detach().to("cpu", torch.float64).numpy()

    return MemberOutputs(energies=numpy(energies[:, :g]), forces=numpy(forces[:, :n]),
                         stress=None if stresses is None else numpy(stresses[:, :g]))
