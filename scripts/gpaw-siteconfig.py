# GPAW build configuration used by scripts/setup.sh (GPAW_CONFIG points here).
# ScaLAPACK is required: without it GPAW's PW mode dies under `mpirun -np 2`
# with an AssertionError in BLACSDistribution (see shared DESIGN.md).
mpi = True
compiler = 'mpicc'
scalapack = True
fftw = True
libxc = True
libraries = ['xc', 'openblas', 'scalapack-openmpi', 'fftw3']
library_dirs = ['/usr/lib/x86_64-linux-gnu']
include_dirs = ['/usr/include']
