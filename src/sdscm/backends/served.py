"""The served backend: continuation log-probs from an OpenAI-compatible `/v1/completions` server.

Same semantics as the transformers backend (DESIGN.md section 1, "Score"): context (trailing
whitespace moved to the candidates) and each candidate are tokenised separately, without special
tokens, by the *server's* tokenize endpoint, and every sequence is ``[start] + context + candidate``.
The sequences go to the server as token ids, so the candidate's tokens are exactly the last ones of
each prompt; the server echoes the prompt's log-probs (``echo`` + ``logprobs``, or vLLM's
``prompt_logprobs``) and, where it can (vLLM's ``return_tokens_as_token_ids``), the token ids it
scored, which are checked against those sent.

When it connects, the backend checks what the server does before trusting it:

- the served model exists (``/v1/models``) and tokenises probe texts (unicode, spaces, the start
  token) exactly as the tokenizer of the model file's ``name`` (default: the packaged SmolLM2);
- it returns prompt log-probs at all;
- a self-consistency probe: the log-prob the server gives a token when it *generates* it after a
  prompt must equal the log-prob it echoes for that token appended to the same prompt. A server
  whose echoed log-probs are shifted by a position (llama-cpp-python's server, its issue #1983)
  fails this and is refused.

Many sequences go in one request (``prompts_per_request``, within ``max_batch_tokens``) and at
most ``max_concurrency`` requests are in flight; retries and timeouts are in
:mod:`~sdscm.backends.served_client`. Build it with :func:`sdscm.backends.factory.build_backend`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np

from sdscm.backends.base import Capability, ScoreRequest, ScoreResult
from sdscm.backends.default_model import DEFAULT_START_TOKEN, default_model_path, quiet_transformers
from sdscm.backends.served_client import HTTPStatusError, JSONClient, RetryPolicy
from sdscm.backends.tokenization import split_trailing_whitespace, start_token_id
from sdscm.errors import BackendError
from sdscm.spec.schema import ModelSection

LogprobMode = Literal["echo", "prompt_logprobs"]

PROBE_TEXTS = ("The capital of France is", "She is 45. The tumor is grade")
"""Prompts of the self-consistency probe (their greedy next token is scored both ways)."""
TOKENIZER_PROBES = (
    "The capital of France is Paris.",
    " Paris",
    "  two spaces,\ta tab\nand a newline",
    "Café crème, naïve Zürich, 東京, 🎉 — 52-year-old",
)
"""Texts the server must tokenise exactly as the model file's tokenizer does."""
TOKEN_MEMO_MAX = 200_000
"""Texts whose server tokenisation is remembered; past this the memo starts again (bounded memory)."""
PROBE_TOLERANCE = 0.01
"""Largest |generated - echoed| log-prob (nats) the probe accepts. A correct fp32 server agrees to
about 1e-5 (the same logits); a shifted one is off by nats."""


def api_root(base_url: str) -> str:
    """The server's root address: `base_url` without a trailing `/v1` (tokenize lives at the root)."""
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


def local_tokenizer(name: str | None) -> Any:
    """The tokenizer of the model file's `name` (a local folder or offline name; None: packaged SmolLM2)."""
    from transformers import AutoTokenizer  # deferred: seconds to import

    source = str(default_model_path()) if name is None else name
    try:
        with quiet_transformers():
            return AutoTokenizer.from_pretrained(source, local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - any loading failure becomes one clear message
        raise BackendError(
            f"the served backend checks the server's tokenizer against the model file's `name`, but the "
            f"tokenizer of {source!r} cannot be loaded offline ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]}); set `name` to a local folder holding the served model's "
            "tokenizer files (tokenizer.json, tokenizer_config.json)"
        ) from None


class ServedBackend:
    """Scores continuations on an OpenAI-compatible completions server that returns prompt log-probs.

    `tokenizer` is the model file's tokenizer (the server's must match it); `start_token` as in
    the transformers backend (default: its BOS, else EOS; `<|endoftext|>` for the packaged model).
    The connection checks run on first use (or :meth:`connect`).
    """

    capability: Capability = "exact"

    def __init__(
        self,
        base_url: str,
        served_model: str,
        tokenizer: Any,
        *,
        start_token: str | None = None,
        api_key: str | None = None,
        logprobs: LogprobMode = "echo",
        prompts_per_request: int = 32,
        max_batch_tokens: int = 8192,
        max_concurrency: int = 4,
        timeout_s: float = 300.0,
        max_retries: int = 10,
        retry_backoff: float = 0.5,
        probe: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.root = api_root(base_url)
        self.served_model = served_model
        self.tokenizer = tokenizer
        self.start_id = start_token_id(tokenizer, start_token)
        self.start_token = tokenizer.convert_ids_to_tokens(self.start_id)
        self.logprobs: LogprobMode = logprobs
        self.prompts_per_request = int(prompts_per_request)
        self.max_batch_tokens = int(max_batch_tokens)
        self.max_concurrency = int(max_concurrency)
        self.client = JSONClient(self.root, api_key, RetryPolicy(float(timeout_s), int(max_retries),
                                                                 float(retry_backoff)))
        self.run_probe = probe
        self.max_length: int | None = None
        self.model_info: dict[str, Any] = {}
        self.probe_result: list[tuple[float, float]] = []
        self._tokenize_style: str | None = None
        self._token_memo: dict[str, list[int]] = {}
        self._probe_tokens: list[list[int]] = []
        self._connected = False
        self._fingerprint: str | None = None
        self.requests_sent = 0
        self.prompt_tokens_sent = 0

    @classmethod
    def from_section(cls, section: ModelSection, **options: Any) -> ServedBackend:
        """Build the backend a `backend: served` model section describes (the key from `api_key_env`)."""
        api_key = None
        if section.api_key_env:
            api_key = os.environ.get(section.api_key_env)
            if not api_key:
                raise BackendError(
                    f"the model section names api_key_env {section.api_key_env!r}, but that environment "
                    "variable is unset or empty: export it with the server's API key"
                )
        assert section.base_url is not None and section.served_model is not None  # schema-checked
        tokenizer = options.pop("tokenizer", None) or local_tokenizer(section.name)
        start_token = section.start_token
        if start_token is None and section.name is None:
            start_token = DEFAULT_START_TOKEN
        fields: dict[str, Any] = {
            "start_token": start_token,
            "api_key": api_key,
            "logprobs": section.served_logprobs,
            "prompts_per_request": section.prompts_per_request,
            "max_batch_tokens": section.max_batch_tokens,
            "max_concurrency": section.max_concurrency,
            "timeout_s": section.request_timeout,
            "max_retries": section.max_retries,
            "retry_backoff": section.retry_backoff,
        }
        options.pop("track_tokens", None)  # token accounting is the transformers backend's
        return cls(section.base_url, section.served_model, tokenizer, **{**fields, **options})

    def __repr__(self) -> str:
        return f"ServedBackend({self.base_url!r}, served_model={self.served_model!r}, start_token={self.start_token!r})"

    # -- identity

    @property
    def fingerprint(self) -> str:
        """`served:sha256:<hex>` over the server root, served model (and what `/v1/models` says of it),
        the tokenizer as checked, the start id, the log-prob mode and the probe's log-probs (2 decimals).
        The API key is not part of it."""
        if self._fingerprint is None:
            self.connect()
            parts = {
                "server": self.root,
                "served_model": self.served_model,
                "model_info": {k: self.model_info.get(k) for k in ("id", "root", "max_model_len")},
                "tokenizer": self._probe_tokens,
                "vocab": _vocab_digest(self.tokenizer),
                "start_id": self.start_id,
                "logprobs": self.logprobs,
                "probe": [round(g, 2) for g, _ in self.probe_result],
            }
            digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
            self._fingerprint = f"served:sha256:{digest}"
        return self._fingerprint

    # -- connection checks

    def connect(self) -> None:
        """Check the served model, its tokenizer, its start token and its prompt log-probs (once)."""
        if self._connected:
            return
        self._check_model()
        try:
            self._check_tokenizer()
            if self.run_probe:
                self.probe_result = self.probe()
        except UnsupportedServer:
            # The server cannot be used as it is; if its log-probs are also wrong, say that first.
            if self.run_probe:
                self.text_probe()
            raise
        self._connected = True

    def _check_model(self) -> None:
        try:
            answer = self.client.get("/v1/models")
        except HTTPStatusError:
            return  # a server without the list; a wrong name fails on the first completion
        models = answer.get("data", []) if isinstance(answer, dict) else []
        ids = [m.get("id") for m in models if isinstance(m, dict)]
        if ids and self.served_model not in ids:
            raise BackendError(
                f"the server at {self.root} serves {ids}, not {self.served_model!r}: set served_model "
                "(or --served-model) to one of those"
            )
        for m in models:
            if isinstance(m, dict) and m.get("id") == self.served_model:
                self.model_info = m
                if isinstance(m.get("max_model_len"), int):
                    self.max_length = int(m["max_model_len"])

    def _check_tokenizer(self) -> None:
        """The server must tokenise probe texts and the start token as the model file's tokenizer does."""
        served = self.tokenize(list(TOKENIZER_PROBES) + [self.start_token])
        self._probe_tokens = served
        for text, ids in zip(TOKENIZER_PROBES, served):
            local = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
            if ids != local:
                raise BackendError(
                    f"the server at {self.root} tokenises {text!r} as {ids[:12]}, but the model file's "
                    f"tokenizer gives {local[:12]}: the server runs another model or tokenizer than the "
                    f"model section names; serve the same model, or set `name` to the served model's folder"
                )
        if served[-1] != [self.start_id]:
            raise BackendError(
                f"the start token {self.start_token!r} is id {self.start_id} for the model file's tokenizer but "
                f"{served[-1]} on the server at {self.root}: serve the model the model section names, or set "
                "`start_token` to a token both agree on"
            )

    def probe(self) -> list[tuple[float, float]]:
        """The self-consistency probe: (generated, echoed) log-prob of the greedy next token of each
        probe prompt. Raises BackendError when they differ by more than :data:`PROBE_TOLERANCE`."""
        out = []
        for text in PROBE_TEXTS:
            prompt = [self.start_id] + self.tokenize([text])[0]
            token, generated = self._generate_one(prompt)
            echoed = float(self._prompt_logprobs([prompt + [token]], [1])[0][0])
            out.append((generated, echoed))
            if not abs(generated - echoed) <= PROBE_TOLERANCE:
                raise BackendError(self._inconsistent(text, str(token), generated, echoed))
        return out

    def text_probe(self) -> None:
        """The self-consistency probe with text prompts, for servers that take no token-id prompts or
        have no tokenize endpoint (llama-cpp-python's): generate one token after the first probe text,
        echo the text plus that token, and compare the two log-probs of the token. Raises BackendError
        when they differ; returns quietly when they agree or the server answers neither request."""
        text = self.start_token + PROBE_TEXTS[0]
        try:
            first = _choices(self._complete({"prompt": text, "max_tokens": 1, "temperature": 0.0, "logprobs": 1}),
                             1, self.root)[0]
            lp = first.get("logprobs") or {}
            generated = (lp.get("token_logprobs") or [None])[0]
            token_text = (lp.get("tokens") or [None])[0]
            answer = self._complete({"prompt": text + first.get("text", ""), "max_tokens": 1, "temperature": 0.0,
                                     "logprobs": 1, "echo": True})
            again = _choices(answer, 1, self.root)[0]
        except BackendError:
            return
        lp2 = again.get("logprobs") or {}
        tokens, values = lp2.get("tokens") or [], lp2.get("token_logprobs") or []
        # The appended token is the prompt's last: at usage.prompt_tokens - 1 where the server reports
        # usage; else the one before the last echoed token (the generated one echoed too), or the last.
        usage = answer.get("usage") if isinstance(answer, dict) else None
        count = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        places = [count - 1] if isinstance(count, int) else [len(tokens) - 2, len(tokens) - 1]
        where = next((i for i in places if 0 < i < min(len(tokens), len(values)) and tokens[i] == token_text), None)
        if generated is None or where is None or values[where] is None:
            return  # not comparable: the echo does not show the appended token
        echoed = float(values[where])
        if abs(float(generated) - echoed) > PROBE_TOLERANCE:
            raise BackendError(self._inconsistent(PROBE_TEXTS[0], repr(token_text), float(generated), echoed))

    def _inconsistent(self, text: str, token: str, generated: float, echoed: float) -> str:
        return (
            f"the server at {self.root} is not self-consistent: after {text!r} it generates token "
            f"{token} with log-prob {generated:.4f}, but reports {echoed:.4f} for the same token "
            "appended to the same prompt. Its prompt log-probs are wrong (shifted by a position, as in "
            "llama-cpp-python's server, issue #1983); sdscm refuses to score with it. Use a server whose "
            "prompt log-probs are right (vLLM), or try served_logprobs: prompt_logprobs"
        )

    def _generate_one(self, prompt: list[int]) -> tuple[int, float]:
        """The greedy next token after `prompt` and the log-prob the server reports for it."""
        answer = self._complete({"prompt": [prompt], "max_tokens": 1, "temperature": 0.0, "logprobs": 1,
                                 "return_tokens_as_token_ids": True})
        choice = _choices(answer, 1, self.root)[0]
        lp = choice.get("logprobs") or {}
        tokens, values = lp.get("tokens") or [], lp.get("token_logprobs") or []
        if not tokens or not values or values[0] is None:
            raise BackendError(
                f"the server at {self.root} returned no log-prob for a generated token (asked with logprobs=1); "
                "serve the model with an OpenAI-compatible server that returns log-probs (vLLM)"
            )
        token = _token_id(tokens[0])
        if token is None:  # a server without return_tokens_as_token_ids: the text must be one token
            ids = self.tokenize([choice.get("text", "")])[0]
            if len(ids) != 1:
                raise BackendError(
                    f"the server at {self.root} does not report token ids (return_tokens_as_token_ids) and "
                    f"its generated text {choice.get('text')!r} is not one token: the probe cannot run"
                )
            token = ids[0]
        return token, float(values[0])

    # -- tokenization

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text by the server's tokenize endpoint (no special tokens), memoised."""
        todo = list(dict.fromkeys(t for t in texts if t not in self._token_memo))
        if todo and len(self._token_memo) + len(todo) > TOKEN_MEMO_MAX:
            self._token_memo = {t: self._token_memo[t] for t in texts if t in self._token_memo}
        if todo:
            if self._tokenize_style is None:
                self._tokenize_style = self._find_tokenize_style(todo[0])
            with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
                for text, ids in zip(todo, pool.map(self._tokenize_one, todo)):
                    self._token_memo[text] = ids
        return [list(self._token_memo[t]) for t in texts]

    def _tokenize_body(self, text: str, style: str) -> dict[str, Any]:
        if style == "vllm":
            return {"model": self.served_model, "prompt": text, "add_special_tokens": False}
        return {"content": text, "add_special": False, "parse_special": True}  # llama.cpp's server

    def _find_tokenize_style(self, text: str) -> str:
        for style in ("vllm", "llama.cpp"):
            try:
                answer = self.client.post("/tokenize", self._tokenize_body(text, style))
            except HTTPStatusError:
                continue
            if isinstance(answer, dict) and isinstance(answer.get("tokens"), list):
                self._token_memo[text] = _ids(answer["tokens"], self.root)
                if self.max_length is None and isinstance(answer.get("max_model_len"), int):
                    self.max_length = int(answer["max_model_len"])
                return style
        raise UnsupportedServer(
            f"the server at {self.root} has no tokenize endpoint (POST {self.root}/tokenize, as vLLM's and "
            "llama.cpp's servers have): sdscm needs the server's own tokenisation to find each candidate's "
            "tokens exactly"
        )

    def _tokenize_one(self, text: str) -> list[int]:
        if text in self._token_memo:
            return self._token_memo[text]
        assert self._tokenize_style is not None
        answer = self.client.post("/tokenize", self._tokenize_body(text, self._tokenize_style))
        if not isinstance(answer, dict) or not isinstance(answer.get("tokens"), list):
            raise BackendError(f"the server at {self.root} answered /tokenize without a `tokens` list")
        return _ids(answer["tokens"], self.root)

    # -- scoring

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        """Sum of token log-probs and token count of every continuation of every request."""
        self.connect()
        heads, conts = [], []
        for request in requests:
            head, ws = split_trailing_whitespace(request.context)
            heads.append(head)
            conts.append([ws + c for c in request.continuations])
        ids = self.tokenize(heads + [c for row in conts for c in row])
        context_ids, cont_ids = ids[: len(heads)], iter(ids[len(heads):])
        prompts: dict[tuple[int, ...], int] = {}  # distinct sequence -> index
        lengths: list[int] = []
        layout: list[list[int]] = []
        for request, ctx, row in zip(requests, context_ids, conts):
            where = []
            for text in row:
                c = next(cont_ids)
                if not c:
                    raise BackendError(
                        f"continuation {text!r} (context {request.context!r}) has no tokens: "
                        "a candidate value must be a non-empty text"
                    )
                seq = (self.start_id, *ctx, *c)
                if seq not in prompts:
                    prompts[seq] = len(prompts)
                    lengths.append(len(c))
                where.append(prompts[seq])
            layout.append(where)
        per_token = self.score_sequences(list(prompts), lengths)
        sums = np.array([float(lp.sum()) for lp in per_token], dtype=np.float64)
        counts = np.array([lp.size for lp in per_token], dtype=np.int64)
        return [ScoreResult(logprob_sum=sums[np.asarray(w, dtype=np.int64)],
                            num_tokens=counts[np.asarray(w, dtype=np.int64)]) for w in layout]

    def score_sequences(self, seqs: Sequence[Sequence[int]], scored: Sequence[int]) -> list[np.ndarray]:
        """Log-probs of the last `scored[i]` tokens of each token sequence, many per request, at most
        `max_concurrency` requests at once."""
        longest = max((len(s) for s in seqs), default=0)
        if self.max_length is not None and longest + 1 > self.max_length:
            raise BackendError(
                f"a context plus candidate is {longest} tokens long, more than the served model's maximum "
                f"of {self.max_length - 1} (max_model_len {self.max_length}, one position for the generated "
                "token): shorten the phrasings or serve the model with a larger --max-model-len"
            )
        batches = request_batches([len(s) for s in seqs], self.prompts_per_request, self.max_batch_tokens)
        out: list[np.ndarray] = [np.empty(0)] * len(seqs)

        def run(batch: list[int]) -> list[np.ndarray]:
            return self._prompt_logprobs([list(seqs[i]) for i in batch], [scored[i] for i in batch])

        if len(batches) == 1 or self.max_concurrency == 1:
            results = [run(b) for b in batches]
        else:
            with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(batches))) as pool:
                results = list(pool.map(run, batches))
        for batch, values in zip(batches, results):
            for i, lp in zip(batch, values):
                out[i] = lp
        return out

    def _complete(self, body: dict[str, Any]) -> Any:
        self.requests_sent += 1
        try:
            return self.client.post("/v1/completions", {"model": self.served_model, **body})
        except HTTPStatusError as exc:
            if exc.status in (400, 404, 422):
                raise UnsupportedServer(
                    f"{exc}. Is {self.served_model!r} the served model's name, and does the server accept "
                    "token-id prompts with echo/logprobs (OpenAI's legacy completions API)?"
                ) from None
            raise

    def _prompt_logprobs(self, prompts: list[list[int]], scored: list[int]) -> list[np.ndarray]:
        """Per prompt, the log-probs of its last `scored` tokens as the server reports them."""
        self.prompt_tokens_sent += sum(len(p) for p in prompts)
        if self.logprobs == "echo":
            body = {"prompt": prompts, "max_tokens": 1, "temperature": 0.0, "echo": True, "logprobs": 1,
                    "return_tokens_as_token_ids": True}
        else:
            body = {"prompt": prompts, "max_tokens": 1, "temperature": 0.0, "prompt_logprobs": 0}
        choices = _choices(self._complete(body), len(prompts), self.root)
        out = []
        for prompt, k, choice in zip(prompts, scored, choices):
            if self.logprobs == "echo":
                values = _echo_logprobs(choice, prompt, self.root)
            else:
                values = _vllm_prompt_logprobs(choice, prompt, self.root)
            out.append(np.asarray(values[len(prompt) - k :], dtype=np.float64))
        return out


class UnsupportedServer(BackendError):
    """The server lacks what exact scoring needs (a tokenize endpoint, token-id prompts)."""


def request_batches(lengths: Sequence[int], per_request: int, max_tokens: int) -> list[list[int]]:
    """Sequence indices in order, grouped into requests of at most `per_request` sequences and
    `max_tokens` tokens in all (a server does not pad, so the budget is the plain sum); a longer
    sequence goes alone."""
    batches: list[list[int]] = []
    current: list[int] = []
    total = 0
    for i, n in enumerate(lengths):
        if current and (len(current) >= per_request or total + n > max_tokens):
            batches.append(current)
            current, total = [], 0
        current.append(i)
        total += n
    if current:
        batches.append(current)
    return batches


def _no_prompt_logprobs(root: str, how: str) -> BackendError:
    return BackendError(
        f"the server at {root} returned no prompt log-probs ({how}); sdscm needs the log-prob of every "
        "prompt token: use a server that returns them (vLLM: echo + logprobs, or prompt_logprobs; "
        "llama.cpp's own server does not), or switch served_logprobs"
    )


def _choices(answer: Any, n: int, root: str) -> list[dict[str, Any]]:
    """The `n` choices of a completions answer, in prompt order."""
    choices = answer.get("choices") if isinstance(answer, dict) else None
    if not isinstance(choices, list) or len(choices) != n:
        got = len(choices) if isinstance(choices, list) else "no"
        raise BackendError(f"the server at {root} answered {n} prompt(s) with {got} choices")
    return sorted(choices, key=lambda c: int(c.get("index", 0)))


def _echo_logprobs(choice: dict[str, Any], prompt: list[int], root: str) -> list[float]:
    lp = choice.get("logprobs")
    values = lp.get("token_logprobs") if isinstance(lp, dict) else None
    if not isinstance(values, list) or len(values) < len(prompt):
        raise _no_prompt_logprobs(root, "echo + logprobs")
    tokens = lp.get("tokens") or []
    echoed = [_token_id(t) for t in tokens[: len(prompt)]]
    if echoed and all(t is not None for t in echoed) and echoed != prompt:
        raise BackendError(f"the server at {root} echoed other token ids than it was sent: it re-tokenised "
                           "the prompt; sdscm cannot tell which log-probs belong to the candidate")
    head = values[1 : len(prompt)]
    if any(v is None for v in head):
        raise _no_prompt_logprobs(root, "echo + logprobs: null entries")
    return [float("nan")] + [float(v) for v in head]


def _vllm_prompt_logprobs(choice: dict[str, Any], prompt: list[int], root: str) -> list[float]:
    entries = choice.get("prompt_logprobs")
    if not isinstance(entries, list) or len(entries) < len(prompt):
        raise _no_prompt_logprobs(root, "prompt_logprobs")
    out = [float("nan")]
    for pos in range(1, len(prompt)):
        entry = entries[pos] or {}
        item = entry.get(str(prompt[pos]))
        if not isinstance(item, dict) or "logprob" not in item:
            raise _no_prompt_logprobs(root, f"prompt_logprobs without the prompt's token {prompt[pos]}")
        out.append(float(item["logprob"]))
    return out


def _token_id(token: Any) -> int | None:
    """`token_id:123` (vLLM's return_tokens_as_token_ids) -> 123; anything else -> None."""
    if isinstance(token, str) and token.startswith("token_id:"):
        try:
            return int(token[len("token_id:"):])
        except ValueError:
            return None
    return None


def _ids(tokens: list[Any], root: str) -> list[int]:
    try:
        return [int(t["id"]) if isinstance(t, dict) else int(t) for t in tokens]
    except (TypeError, ValueError, KeyError):
        raise BackendError(f"the server at {root} answered /tokenize with tokens that are not ids") from None


def _vocab_digest(tokenizer: Any) -> str:
    """sha256 of the tokenizer's vocabulary (token -> id), the part the probes do not cover."""
    items = sorted(tokenizer.get_vocab().items(), key=lambda kv: (kv[1], kv[0]))
    text = "\x00".join(f"{tid}\x01{tok}" for tok, tid in items)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
