"""Query results: DataFrame layout and atomic writers."""
