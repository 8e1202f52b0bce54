"""The version of sdscm (also `sdscm.__version__`), recorded in audit results."""

__version__ = "0.1.0"
