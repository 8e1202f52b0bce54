"""Pure functions that fix the meaning of an SD-SCM: rendered texts and contexts, counter-based
noise and the Gumbel-max draw (DESIGN.md section 1). The engine builds mechanisms on them."""
