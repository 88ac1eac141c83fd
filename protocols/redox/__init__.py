"""Redox potentials from MD with alearn models (to come; nothing is implemented yet).

This package will hold the redox protocol: the free energy of an electron
transfer ``Ox + e⁻ → Red`` of a species in an electrolyte or at an
electrode/electrolyte interface, obtained by thermodynamic integration between
the oxidised and reduced states (a λ-mixed calculator built on ASE's
``MixedCalculator``, sampled with :func:`alearn.protocols.run_md`), the
vertical energy gaps along each state's trajectory and the Marcus
reorganisation energy they give, and the conversion of the result to a
potential against a reference electrode (SHE, Li⁺/Li) in V. The integration
over λ itself will come from :mod:`alearn.protocols.free_energy`.
"""
