"""Audit the causal effects a language model encodes: paired counterfactuals, a placebo arm, tests, report.

    from sdscm.audit import audit
    result = audit("examples/breast_cancer.yaml", cause="PD-L1 level", values=("low", "high"),
                   outcome="therapy", outcome_value="start a regimen of trastuzumab and pertuzumab",
                   variants=5, n=100)
    print(result.summary())
    result.write("audit-out")   # results.json, units.parquet, report.md, report.html, figures

See docs/audit.md for the method and every output field.
"""

from sdscm.audit.arms import VariantArm
from sdscm.audit.run import DEFAULT_N, DEFAULT_VARIANTS, audit
from sdscm.audit.setup import AuditSetup
from sdscm.audit.summary import AuditResult

__all__ = ["DEFAULT_N", "DEFAULT_VARIANTS", "AuditResult", "AuditSetup", "VariantArm", "audit"]
