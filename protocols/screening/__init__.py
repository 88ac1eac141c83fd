"""High-throughput screening of candidate solid electrolytes with a committee.

Candidates are generated from parent structures by substitution rules with
symmetry-distinct orderings, or read from files (:mod:`.candidates`,
:mod:`.symmetry`); each goes through stages, cheapest first, any of which
may reject it (:mod:`.stages`): committee relaxation, energy above the
convex hull of reference phases (:mod:`.hull`), short hot MD for the mobile
ions' diffusion and Nernst–Einstein conductivity, and an Arrhenius fit. Every
stage records the committee's uncertainty; candidates outside the trust
window are flagged and can be exported as start structures of a campaign
(:mod:`.report`). Results live in a database, one row per candidate and
stage, and workers (processes, MPI ranks, jobs on other nodes) share the
candidates through a claim/complete queue in that database (:mod:`.store`,
:mod:`.runner`). The committee is evaluated through an :class:`Evaluator`
(:mod:`.evaluator`), where a batched backend plugs in.

Command line: ``alearn screen`` and ``alearn screen-report`` (:mod:`.cli`); see
docs/screening.md.
"""

from .candidates import Candidate, deduplicate, generate_candidates, substitute
from .config import ScreenConfig, load_screen_config
from .evaluator import Evaluator, LoopEvaluator, Relaxation
from .hull import HullPhase, e_above_hull
from .report import CandidateSummary, export_flagged, ranked_table, summarize
from .runner import ScreenSummary, run_screen
from .stages import StageOutcome
from .store import ScreenStore

__all__ = ["Candidate", "CandidateSummary", "Evaluator", "HullPhase", "LoopEvaluator",
           "Relaxation", "ScreenConfig", "ScreenStore", "ScreenSummary", "StageOutcome",
           "deduplicate", "e_above_hull", "export_flagged", "generate_candidates",
           "load_screen_config", "ranked_table", "run_screen", "substitute", "summarize"]
