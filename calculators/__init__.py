"""ASE calculators used by alearn (plain ASE calculators; they know nothing of campaigns)."""

from __future__ import annotations

__all__ = ["CommitteeCalculator", "CoupledCalculator", "DeltaCalculator",
           "UncertaintyBiasedCalculator"]


def __getattr__(name: str):
    # Imported lazily so that `import alearn.calculators.x` does not load torch.
    if name == "CommitteeCalculator":
        from alearn.calculators.committee import CommitteeCalculator

        return CommitteeCalculator
    if name == "CoupledCalculator":
        from alearn.calculators.coupled import CoupledCalculator

        return CoupledCalculator
    if name == "DeltaCalculator":
        from alearn.calculators.delta import DeltaCalculator

        return DeltaCalculator
    if name == "UncertaintyBiasedCalculator":
        from alearn.calculators.biased import UncertaintyBiasedCalculator

        return UncertaintyBiasedCalculator
    raise AttributeError(name)
from alearn.calculators.efield import ElectricFieldCalculator as ElectricFieldCalculator  # noqa: E402,E501
