"""The `sdscm` command line (Typer), a thin layer over the Python API."""
