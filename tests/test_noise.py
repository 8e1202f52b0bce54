"""Counter-based noise: uniform, independent across units/variables/coordinates, batch-free."""

from __future__ import annotations

import numpy as np
from scipy import stats

from sdscm.semantics.noise import gumbel, uniforms


def test_uniforms_are_uniform_and_open() -> None:
    """Uniform draws pass a KS test and never hit 0 or 1."""
    u = uniforms(3, np.arange(50_000), "x", 4)
    assert u.min() > 0 and u.max() < 1
    for j in range(4):
        assert stats.kstest(u[:, j], "uniform").pvalue > 1e-3


def test_gumbel_is_standard_gumbel() -> None:
    """Gumbel draws pass a KS test against the standard Gumbel distribution."""
    g = gumbel(0, np.arange(50_000), "y", 1)[:, 0]
    assert stats.kstest(g, "gumbel_r").pvalue > 1e-3


def test_noise_depends_only_on_seed_unit_and_variable() -> None:
    """A unit's vector is the same computed alone or in any batch, and changes with seed or variable name."""
    batch = gumbel(5, np.arange(100), "age", 7)
    alone = gumbel(5, np.array([42]), "age", 7)
    np.testing.assert_array_equal(batch[42], alone[0])
    assert not np.allclose(gumbel(6, np.array([42]), "age", 7), alone)
    assert not np.allclose(gumbel(5, np.array([42]), "sex", 7), alone)
    # the first k coordinates do not depend on the vector length
    np.testing.assert_array_equal(gumbel(5, np.arange(100), "age", 3), batch[:, :3])


def test_noise_streams_are_uncorrelated() -> None:
    """Neighbouring units, coordinates and variables are uncorrelated (|r| small)."""
    a = uniforms(1, np.arange(40_000), "a", 2)
    b = uniforms(1, np.arange(40_000), "b", 1)
    assert abs(np.corrcoef(a[:-1, 0], a[1:, 0])[0, 1]) < 0.03
    assert abs(np.corrcoef(a[:, 0], a[:, 1])[0, 1]) < 0.03
    assert abs(np.corrcoef(a[:, 0], b[:, 0])[0, 1]) < 0.03
