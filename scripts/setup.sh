#!/usr/bin/env bash
# Set up alearn on a fresh Debian machine: system packages, a virtual
# environment, CPU torch, GPAW built with ScaLAPACK/FFTW, and the project.
# Idempotent: a second run only checks and returns.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${ALEARN_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}
log() { printf '[setup] %s\n' "$*" >&2; }

# 1. Debian packages: MPI (mpi4py, mpirun), libxc/BLAS/ScaLAPACK/FFTW (GPAW); for the
#    tests: chromium (the report page in a headless browser) and postgresql (datasets on
#    a PostgreSQL server the tests start themselves).
DEBS="openmpi-bin libopenmpi-dev libxc-dev libopenblas-dev libscalapack-openmpi-dev libfftw3-dev"
DEBS="$DEBS chromium postgresql"
missing=$(for p in $DEBS; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  log "installing Debian packages: $missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# 2. Virtual environment with CPU torch first (else pip pulls a CUDA build).
[ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$PY" -m venv "$VENV"; }
PIP="$VENV/bin/python -m pip"
$VENV/bin/python -c "import torch" 2>/dev/null || { log "installing torch (CPU)"; $PIP install -q --no-warn-script-location torch==2.13.0; }

# 3. GPAW with ScaLAPACK + FFTW (checked, rebuilt if an older build lacks them).
if ! $VENV/bin/python -c "import gpaw, gpaw.utilities as u, sys; sys.exit(0 if u.compiled_with_sl() else 1)" 2>/dev/null; then
  log "building GPAW with ScaLAPACK and FFTW (~2 min)"
  GPAW_CONFIG="$ROOT/scripts/gpaw-siteconfig.py" $PIP install -q --no-warn-script-location --no-cache-dir --force-reinstall --no-deps gpaw
  $PIP install -q --no-warn-script-location gpaw gpaw-data
fi

# 4. The project itself (editable) with its test extras.
stamp="$VENV/.alearn-installed"
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
  log "installing alearn"
  $PIP install -q --no-warn-script-location -e "$ROOT[test]"
  touch "$stamp"
fi
log "ready: $VENV"
