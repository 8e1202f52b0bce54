"""report.html: self-contained, every model/user text escaped, and rendered by a real browser (headless Chromium)."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sdscm.audit import audit
from sdscm.audit.report import EFFECT_COLOR, FILES
from sdscm.spec.schema import ModelFile

from test_audit_models import planted_dict

EVIL = '<script>alert("x")</script>'


def chromium() -> str:
    """Path of Chromium; a missing browser fails in CI (CI=true) and skips locally with the fix."""
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if path is None:
        message = "chromium is not installed: run `bash scripts/install-test-deps.sh` (as root) to install it"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def evil_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An audit report of a model whose phrasings, values and name carry HTML and a <script> tag."""
    data = planted_dict(race_phrasings=["The patient is {value}. " + EVIL, "Race & <b>{value}</b>."])
    data["name"] = "model <i>" + EVIL
    spec = ModelFile.model_validate(data)
    result = audit(spec, cause="race", values=("white", "black"), outcome="pain", variants=2, n=60,
                   placebo_phrasing="Race: {value} " + EVIL, margin=0.05, n_boot=100, n_perm=200)
    out = tmp_path_factory.mktemp("report")
    result.write(out)
    return out


def test_every_file_written(evil_report: Path) -> None:
    """All outputs exist and the figure files are PNGs."""
    for name in FILES:
        assert (evil_report / name).stat().st_size > 0
    for name in ("forest.png", "histogram.png"):
        assert (evil_report / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_self_contained_and_escaped(evil_report: Path) -> None:
    """No scripts and no external resources; user text appears only escaped; the <img> data URIs decode
    to valid PNG images of reasonable size; report.md escapes the same text."""
    page = (evil_report / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "&lt;b&gt;{value}&lt;/b&gt;" in page and "<b>" not in page and "<i>" not in page
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", page)
    uris = re.findall(r'<img[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(uris) == 2
    for uri in uris:
        image = Image.open(io.BytesIO(base64.b64decode(uri)))
        image.verify()
        assert image.format == "PNG" and image.size[0] > 300 and image.size[1] > 150
    md = (evil_report / "report.md").read_text(encoding="utf-8")
    assert "<script" not in md and "&lt;script&gt;" in md


def _near(pixels: np.ndarray, rgb: tuple[int, int, int], tol: int = 40) -> int:
    return int(np.sum(np.all(np.abs(pixels[..., :3].astype(int) - np.array(rgb)) <= tol, axis=-1)))


def test_report_renders_in_headless_chromium(evil_report: Path) -> None:
    """Chromium renders report.html to a non-blank PNG that shows the figures (pixels of the effect colour,
    which only the figures use), and the page runs no injected script (the title text stays text)."""
    browser = chromium()
    shot = evil_report / "screenshot.png"
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", f"--screenshot={shot}", "--window-size=1200,4200",
             "--hide-scrollbars", (evil_report / "report.html").resolve().as_uri()],
            capture_output=True, text=True, timeout=120,
        )
    assert shot.exists(), proc.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[0] >= 4000 and pixels.shape[1] >= 1100
    assert pixels.std() > 10  # not blank
    effect = tuple(int(EFFECT_COLOR[i:i + 2], 16) for i in (1, 3, 5))
    # Histogram bars are drawn at alpha 0.65 over white.
    light = tuple(int(0.65 * c + 0.35 * 255) for c in effect)
    assert _near(pixels, effect) + _near(pixels, light) > 2000
    # Only the figures use that colour: the page's own styles do not.
    page = (evil_report / "report.html").read_text(encoding="utf-8").lower()
    css = page[page.index("<style>"):page.index("</style>")]
    assert EFFECT_COLOR.lower() not in css
