"""The served backend against fake OpenAI-compatible servers on loopback (tests/served_fakes.py).

The fake server scores with a real tiny causal LM, so scores can be compared with the in-process
transformers backend on the same weights; its knobs reproduce real servers' faults (shifted echo
log-probs, no prompt log-probs, another tokenizer, 429/503, a server that goes away).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sdscm.backends.base import ScoreRequest
from sdscm.backends.factory import build_backend
from sdscm.backends.served import ServedBackend, api_root, request_batches
from sdscm.backends.transformers_backend import TransformersBackend
from sdscm.errors import BackendError, SpecError
from sdscm.model import SDSCM
from sdscm.spec.dump import dump_spec
from sdscm.spec.schema import ModelFile, ModelSection

from conftest import weather_spec
from served_fakes import FakeServer, tiny_served_folder
from tiny_models import tiny_tokenizer

REQUESTS = [
    ScoreRequest("The day is ", ("sunny.", "rainy.", "snowy outside today.")),
    ScoreRequest("She is 45. The tumor is grade", (" 2", " 3")),
    ScoreRequest("Café crème, naïve façade ", ("Zürich", "São Paulo", "東京は晴れです")),
    ScoreRequest("\tTabs\tand\n", ("newlines", " several   spaces")),
    ScoreRequest("The day is ", ("sunny.", "rainy.", "snowy outside today.")),  # a repeat
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_served_folder(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="module")
def reference(folder: Path) -> TransformersBackend:
    return TransformersBackend(str(folder), device="cpu", prefix_cache=False)


@pytest.fixture
def server(reference: TransformersBackend):
    with FakeServer(reference.model, reference.tokenizer) as fake:
        yield fake


def served(fake: FakeServer, reference: TransformersBackend, **options) -> ServedBackend:
    options.setdefault("retry_backoff", 0.01)
    return ServedBackend(fake.url, fake.name, reference.tokenizer, **options)


def section(fake: FakeServer, folder: Path, **fields) -> ModelSection:
    return ModelSection(backend="served", name=str(folder), base_url=fake.url, served_model=fake.name,
                        retry_backoff=0.01, **fields)


@pytest.mark.parametrize("mode", ["echo", "prompt_logprobs"])
def test_scores_agree_with_the_in_process_backend(server, reference, mode) -> None:
    """Same sums and token counts as the transformers backend on the same weights (both log-prob modes)."""
    backend = served(server, reference, logprobs=mode)
    got, want = backend.score(REQUESTS), reference.score(REQUESTS)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.num_tokens, w.num_tokens)
        np.testing.assert_allclose(g.logprob_sum, w.logprob_sum, atol=1e-4, rtol=0)
    assert backend.probe_result and all(abs(a - b) < 1e-4 for a, b in backend.probe_result)


def test_many_prompts_per_request_and_bounded_batches(server, reference) -> None:
    """Sequences are sent several per request, never more than prompts_per_request; results do not depend
    on the grouping; the request packer respects both limits."""
    one = served(server, reference, prompts_per_request=1).score(REQUESTS)
    server.prompts_per_call.clear()
    three = served(server, reference, prompts_per_request=3, max_concurrency=2).score(REQUESTS)
    scoring_calls = [n for n in server.prompts_per_call if n > 1]
    assert scoring_calls and max(server.prompts_per_call) <= 3
    for a, b in zip(one, three):
        np.testing.assert_allclose(a.logprob_sum, b.logprob_sum, atol=1e-6, rtol=0)
    batches = request_batches([5, 5, 5, 20, 1, 1], per_request=2, max_tokens=12)
    assert batches == [[0, 1], [2], [3], [4, 5]]


def test_probe_refuses_a_server_with_shifted_prompt_logprobs(reference) -> None:
    """A server that echoes log-probs one position off (llama-cpp-python #1983) fails the probe."""
    with FakeServer(reference.model, reference.tokenizer, shift=True) as fake:
        backend = served(fake, reference)
        with pytest.raises(BackendError, match="not self-consistent") as err:
            backend.score(REQUESTS[:1])
        assert fake.url.removesuffix("/v1") in str(err.value)
    with FakeServer(reference.model, reference.tokenizer, shift=True) as fake:
        with pytest.raises(BackendError, match="not self-consistent"):
            served(fake, reference, logprobs="prompt_logprobs").score(REQUESTS[:1])


def test_text_probe_catches_a_shifted_server_that_takes_no_token_ids(reference) -> None:
    """A server like llama-cpp-python's (text prompts only, no /tokenize) cannot be used; when its echoed
    log-probs are also shifted, the error says so (the probe runs with text prompts)."""
    with FakeServer(reference.model, reference.tokenizer, shift=True, tokenize=False, text_prompts_only=True) as fake:
        with pytest.raises(BackendError, match="not self-consistent"):
            served(fake, reference).score(REQUESTS[:1])
    with FakeServer(reference.model, reference.tokenizer, tokenize=False, text_prompts_only=True) as fake:
        with pytest.raises(BackendError, match="no tokenize endpoint"):
            served(fake, reference).score(REQUESTS[:1])
    with FakeServer(reference.model, reference.tokenizer, text_prompts_only=True) as fake:
        with pytest.raises(BackendError, match="accept token-id prompts"):
            served(fake, reference).score(REQUESTS[:1])


def test_a_server_without_prompt_logprobs_is_a_clear_error(reference) -> None:
    with FakeServer(reference.model, reference.tokenizer, no_prompt_logprobs=True) as fake:
        for mode in ("echo", "prompt_logprobs"):
            with pytest.raises(BackendError, match="returned no prompt log-probs"):
                served(fake, reference, logprobs=mode).score(REQUESTS[:1])


def test_tokenizer_and_model_name_mismatches_are_clear_errors(reference) -> None:
    """Another tokenizer on the server, a wrong served-model name and a missing tokenize endpoint."""
    with FakeServer(reference.model, reference.tokenizer, other_tokenizer=tiny_tokenizer(with_bos=True)) as fake:
        with pytest.raises(BackendError, match="tokenises .* but the model file's tokenizer gives"):
            served(fake, reference).score(REQUESTS[:1])
    with FakeServer(reference.model, reference.tokenizer, name="other") as fake:
        with pytest.raises(BackendError, match=r"serves \['other'\], not 'tiny'"):
            ServedBackend(fake.url, "tiny", reference.tokenizer).score(REQUESTS[:1])
    with FakeServer(reference.model, reference.tokenizer, tokenize=False) as fake:
        with pytest.raises(BackendError, match="no tokenize endpoint"):
            served(fake, reference).score(REQUESTS[:1])


def test_start_token_mismatch_is_a_clear_error(reference) -> None:
    """A server that reads the start token's text as plain text (not one special token) is refused."""
    with FakeServer(reference.model, reference.tokenizer, split_special_tokens=True) as fake:
        with pytest.raises(BackendError, match="start token '<\\|endoftext\\|>' is id 0"):
            served(fake, reference).score(REQUESTS[:1])


def test_retries_on_429_and_5xx_then_succeeds(server, reference, caplog) -> None:
    """Three failures in a row are retried; the third one is reported as one warning naming the URL."""
    backend = served(server, reference)
    backend.score(REQUESTS[:2])  # texts tokenised: the failures all meet /v1/completions
    assert backend.client.retries == 0
    server.fail_next = [503, 429, 502]
    with caplog.at_level(logging.INFO, logger="sdscm"):
        got = backend.score(REQUESTS[:2])
    assert backend.client.retries == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "/v1/completions: HTTP 502" in warnings[0]
    want = reference.score(REQUESTS[:2])
    np.testing.assert_allclose(got[1].logprob_sum, want[1].logprob_sum, atol=1e-4, rtol=0)


def test_retries_spent_name_the_url(server, reference) -> None:
    backend = served(server, reference, max_retries=2)
    backend.score(REQUESTS[:2])  # texts tokenised: the next call goes straight to /v1/completions
    server.fail_next = [503] * 5
    with pytest.raises(BackendError, match=r"server at http://127\.0\.0\.1:\d+/v1/completions failed: HTTP 503.*"
                                           r"after 2 retries.*re-run the same command"):
        backend.score(REQUESTS[:2])


def test_a_restarted_server_is_survived_and_a_dead_one_named(reference) -> None:
    """Connection refused while the server restarts: retried until it is back; gone for good: a clear
    error naming the URL."""
    fake = FakeServer(reference.model, reference.tokenizer).start()
    backend = served(fake, reference, retry_backoff=0.05, max_retries=8)
    backend.connect()
    fake.stop()
    timer = threading.Timer(0.4, fake.start)
    timer.start()
    try:
        got = backend.score(REQUESTS[:2])
    finally:
        timer.join()
    assert backend.client.retries >= 1
    np.testing.assert_allclose(got[0].logprob_sum, reference.score(REQUESTS[:1])[0].logprob_sum, atol=1e-4, rtol=0)
    fake.stop()
    backend.client.policy = type(backend.client.policy)(5.0, 2, 0.01)
    with pytest.raises(BackendError, match=rf"server at http://127\.0\.0\.1:{fake.port}/\S+ failed: connection failed"):
        backend.score(REQUESTS[2:3])


def test_api_key_from_the_named_variable_never_stored(server, reference, folder, tmp_path, monkeypatch) -> None:
    """The key is read from `api_key_env`, sent as a bearer token, and appears in no fingerprint,
    repr, cache file or dumped model file; an unset variable is a clear error."""
    secret = "sk-test-0123456789abcdef"
    server.api_key = secret
    sec = section(server, folder, api_key_env="SDSCM_TEST_KEY")
    monkeypatch.delenv("SDSCM_TEST_KEY", raising=False)
    with pytest.raises(BackendError, match="SDSCM_TEST_KEY.*unset"):
        build_backend(sec, cache=False)
    monkeypatch.setenv("SDSCM_TEST_KEY", secret)
    backend = build_backend(sec, cache=tmp_path / "cache")
    backend.score(REQUESTS[:2])
    assert f"Bearer {secret}" in server.auth_headers
    assert secret not in backend.fingerprint and secret not in repr(backend.inner)
    spec_file = tmp_path / "m.yaml"
    dump_spec(weather_spec(**sec.model_dump(exclude_defaults=True)), spec_file)
    for path in [spec_file, *(tmp_path / "cache").iterdir()]:
        assert secret.encode() not in path.read_bytes()


def test_score_cache_keyed_by_server_model_and_fingerprint(server, reference, folder, tmp_path) -> None:
    """A second backend on the same server answers from the disk cache (no scoring request); the key
    names the server and served model, not the in-process model."""
    cache = tmp_path / "cache"
    first = build_backend(section(server, folder), cache=cache)
    want = first.score(REQUESTS)
    second = build_backend(section(server, folder), cache=cache)
    second.inner.connect()
    before = server.completions
    got = second.score(REQUESTS)
    assert server.completions == before and second.stats.hits == len(REQUESTS)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.logprob_sum, w.logprob_sum)
    assert first.fingerprint == second.fingerprint and first.fingerprint.startswith("served:sha256:")
    assert first.fingerprint != reference.fingerprint
    with sqlite3.connect(cache / "scores.sqlite") as db:
        assert {r[0] for r in db.execute("SELECT fingerprint FROM scores")} == {first.fingerprint}
    with FakeServer(reference.model, reference.tokenizer, name="tiny-b") as other:
        assert build_backend(section(other, folder), cache=False).fingerprint != first.fingerprint


def test_schema_requires_base_url_and_served_model() -> None:
    for model in ({"backend": "served"}, {"backend": "served", "base_url": "localhost:8000", "served_model": "m"},
                  {"base_url": "http://127.0.0.1:8000/v1"}):
        with pytest.raises(SpecError):
            from sdscm.spec.load import parse_spec

            parse_spec({"model": model, "variables": [{"name": "A", "values": ["a", "b"], "phrasings": ["{value}"]}]})
    assert api_root("http://h:1/v1/") == "http://h:1" and api_root("http://h:1") == "http://h:1"


def test_sampled_values_match_the_in_process_backend(server, folder, tmp_path) -> None:
    """The same model file sampled through the server and in process gives the same units."""
    local = SDSCM(weather_spec(name=str(folder), prefix_cache=False), cache=False).sample(40, seed=3)
    remote = SDSCM(weather_spec(**section(server, folder).model_dump(exclude_defaults=True)),
                   cache=False).sample(40, seed=3)
    variables = ["name", "weather", "activity", "time"]
    pd.testing.assert_frame_equal(local[variables], remote[variables])


def test_cli_flags_and_a_dead_server(server, folder, tmp_path) -> None:
    """`--server-url/--served-model` switch a command to the served backend; a dead server gives one
    clear error naming the URL, exit code 1 and no output file."""
    from sdscm.cli.app import app

    spec_file = tmp_path / "m.yaml"
    dump_spec(weather_spec(name=str(folder), retry_backoff=0.01, max_retries=1), spec_file)
    out = tmp_path / "units.csv"
    runner = CliRunner()
    args = ["sample", str(spec_file), "-n", "12", "--out", str(out), "--no-cache",
            "--server-url", server.url, "--served-model", server.name]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == 12 and server.completions > 0
    server.stop()
    out.unlink()
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert f"server at {server.url}" in " ".join(result.output.split()) and not out.exists()


def test_benchmark_interrupted_by_a_dead_server_resumes(reference, folder, tmp_path) -> None:
    """A generation whose server dies mid-run stops with a clear error, keeps the finished datasets
    whole, and a re-run after the server is back completes with the same data as an uninterrupted run."""
    from sdscm.benchmark import generate

    fake = FakeServer(reference.model, reference.tokenizer).start()
    try:
        spec = weather_spec(**section(fake, folder, max_retries=1).model_dump(exclude_defaults=True))
        kwargs = dict(variants=2, datasets_per_variant=2, n=30, seed=5, cache=False)
        clean = generate(spec, tmp_path / "clean", **kwargs)
        per_run = fake.completions
        fake.completions = 0
        fake.fail_after = per_run // 2
        with pytest.raises(BackendError, match="server at"):
            generate(spec, tmp_path / "cut", **kwargs)
        files = sorted((tmp_path / "cut").rglob("*.parquet"))
        assert 0 < len(files) < 4
        for f in files:  # every file present is whole
            pd.read_parquet(f)
        fake.fail_after = None
        resumed = generate(spec, tmp_path / "cut", **kwargs)
        assert resumed.skipped == len(files) and resumed.generated == 4 - len(files)
    finally:
        fake.stop()
    for a in sorted((tmp_path / "clean").rglob("*.parquet")):
        b = tmp_path / "cut" / a.relative_to(tmp_path / "clean")
        pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b))


def test_tokenisation_memo_is_bounded(server, reference, monkeypatch) -> None:
    """The memo of server tokenisations starts again past its size limit; scores do not change."""
    import sdscm.backends.served as served_module

    backend = served(server, reference)
    want = backend.score(REQUESTS)
    monkeypatch.setattr(served_module, "TOKEN_MEMO_MAX", 12)
    got = backend.score([ScoreRequest(r.context + " x", r.continuations) for r in REQUESTS] + REQUESTS)
    assert served_module.TOKENIZER_PROBES[0] not in backend._token_memo  # texts of earlier calls dropped
    for g, w in zip(got[len(REQUESTS):], want):
        np.testing.assert_array_equal(g.logprob_sum, w.logprob_sum)
