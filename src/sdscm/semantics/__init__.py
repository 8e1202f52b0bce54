"""Pure functions that fix the meaning of an SD-SCM: texts, noise, mechanisms (DESIGN.md section 1)."""
