"""Free-energy methods on alearn models (to come; nothing is implemented yet).

This package will hold free-energy profiles along a collective coordinate
(for example an ion's distance from an electrode, or its coordination
number) from umbrella sampling analysed with MBAR/WHAM, and thermodynamic
integration over a coupling parameter λ between two calculators (the
quadrature and its error bars), each returning values in eV with
block-averaged errors like the transport results. Sampling runs through
:func:`alearn.protocols.run_md`; :mod:`alearn.protocols.redox` builds on the
thermodynamic integration here.
"""
