"""Arrhenius fit of conductivities (or diffusion coefficients) saved as JSON by the other scripts.

Example::

    python examples/conductivity_arrhenius.py out_emd/emd_*K.json --method einstein_helfand \\
        --target 300 --out arrhenius.png

``--method`` is ``einstein_helfand``, ``green_kubo``, ``nernst_einstein`` or
``D:<species>``. σ·T is fitted for conductivities, D for diffusion
coefficients; the activation energy and the extrapolated value carry the
propagated uncertainty (the extrapolation also as a 68 % interval).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from alearn.protocols import arrhenius_from_results, plot_arrhenius


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, nargs="+", help="TransportResult JSON files")
    parser.add_argument("--method", default="einstein_helfand")
    parser.add_argument("--target", type=float, default=300.0, help="extrapolation T, K")
    parser.add_argument("--out", type=Path, default=Path("arrhenius.png"))
    args = parser.parse_args()
    data = [json.loads(p.read_text()) for p in args.results]
    fit = arrhenius_from_results(data, method=args.method, target_temperature_K=args.target)
    print(fit)
    fit.to_json(args.out.with_suffix(".json"))
    plot_arrhenius(fit, args.out)


if __name__ == "__main__":
    main()
