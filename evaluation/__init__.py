"""Evaluation: finished runs (runs/) → the paper's tables, statistics and figures (results/<name>/).

``evaluate`` (report.py) is the one entry point; eval.py is its command line. Modules:
runs (discover/validate run folders), tables (Table 1, vs paper), stats (per-image frame),
statistics + leaderboard + stat_figures (run-level tests, leaderboard files and figures),
extended (challenge metrics), cost (Table 3), figures, render (md/tex), naming (rows, labels).
"""

from .report import Evaluation, EvaluationError, evaluate

__all__ = ["Evaluation", "EvaluationError", "evaluate"]
