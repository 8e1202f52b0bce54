"""Scoring treatment-effect estimators on benchmarks with exact ground truth.

``evaluate(datasets, estimators, out=...)`` fits every configured estimator on every dataset
(parallel, resumable, failures recorded); ``write_report(results, out_dir)`` makes the paper-style
tables and figures; ``metrics`` holds the metric functions.
"""

from sdscm.evaluation import metrics
from sdscm.evaluation.report import ate_table, cate_table, failures_table, load_results, write_report
from sdscm.evaluation.runner import KEY, ResultStore, evaluate, run_one

__all__ = ["KEY", "ResultStore", "ate_table", "cate_table", "evaluate", "failures_table", "load_results",
           "metrics", "run_one", "write_report"]
