"""The query engine: variable-major evaluation of worlds across all units at once."""
