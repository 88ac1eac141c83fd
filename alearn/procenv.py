"""The process environment: MPI launcher variables, ranks and worker environments.

Both training (``mace.cli.run_train`` subprocesses) and labeling (label worker
processes, possibly under ``mpirun``) start child processes whose environment
must not depend on how the campaign itself was launched. This module knows
which variables an MPI launcher sets and builds a child's environment from
them. It imports nothing but the standard library, so ``alearn/__init__.py``
can use it before any other import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["MPI_LAUNCHER_VARIABLES", "THREAD_VARIABLES", "launched_by_mpi",
           "rank_from_environment", "worker_env"]

#: Variables an MPI launcher (mpirun, srun, ...) sets in every rank.
MPI_LAUNCHER_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK",
                          "SLURM_STEP_NUM_TASKS", "MPI_LOCALNRANKS")

# Set by MPI launchers for the processes they start. A worker started without
# a launcher must not inherit them: GPAW would believe it runs under MPI (and
# refuse its serial backend) and Open MPI forbids a nested mpirun.
_LAUNCHER_ENV_PREFIXES = (
    "OMPI_COMM_WORLD_", "OMPI_MCA_ess", "OMPI_MCA_orte", "OMPI_MCA_pmix", "OMPI_MCA_prte",
    "OMPI_UNIVERSE_SIZE", "OMPI_FIRST_RANKS", "OMPI_APP_CTX", "OMPI_NUM_APP_CTX",
    "OMPI_ARGV", "OMPI_COMMAND", "OMPI_FILE_LOCATION", "OMPI_MCA_initial_wdir",
    "PMIX_", "PMI_", "PRTE_", "HYDRA_", "I_MPI_MPIRUN", "I_MPI_HYDRA", "MPI_LOCALNRANKS",
    "MPI_LOCALRANKID",
)
_RANK_VARIABLES = ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID")
#: Thread-count variables of OpenMP and the BLAS libraries.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "BLIS_NUM_THREADS")


def launched_by_mpi(env: Mapping[str, str] | None = None) -> bool:
    """True when this process was started by an MPI launcher."""
    env = os.environ if env is None else env
    return any(name in env for name in MPI_LAUNCHER_VARIABLES)


def rank_from_environment() -> int:
    """This process's MPI rank as the launcher announced it (0 without a launcher)."""
    for name in _RANK_VARIABLES:
        value = os.environ.get(name)
        if value is not None and value.isdigit():
            return int(value)
    return 0


def worker_env(*, parallel: bool, base: Mapping[str, str] | None = None,
               threads: int = 1) -> dict[str, str]:
    """Environment of a worker: ``threads`` BLAS/OpenMP threads per rank, MPI set up for GPAW.

    Parameters
    ----------
    parallel
        True when the worker is started through a launcher: GPAW then uses its
        compiled-in MPI (``GPAW_MPI_BACKEND=cgpaw``, unless set), which is
        what ``gpaw python`` does. False: launcher variables inherited from
        a parent that itself runs under MPI are removed.
    base
        Environment to start from (default ``os.environ``).
    threads
        BLAS/OpenMP threads per process (1 for labels; training may use more).
    """
    env = dict(os.environ if base is None else base)
    for name in THREAD_VARIABLES:
        env[name] = str(threads)
    if parallel:
        env.setdefault("GPAW_MPI_BACKEND", "cgpaw")
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # Open MPI refuses root otherwise
            env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
            env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    else:
        env = {k: v for k, v in env.items() if not k.startswith(_LAUNCHER_ENV_PREFIXES)}
        if env.get("GPAW_MPI_BACKEND") in ("cgpaw", "mpi4py"):
            env.pop("GPAW_MPI_BACKEND")
    return env
