"""A small OpenAI-compatible completions server on loopback, backed by a real (tiny) causal LM.

It speaks the parts of vLLM's API the served backend uses: `GET /v1/models`, `POST /tokenize`,
`POST /v1/completions` with token-id prompts, `echo` + `logprobs`, `prompt_logprobs` and
`return_tokens_as_token_ids`. Knobs make it misbehave the ways real servers do:

- `shift=True`: echoed log-probs shifted by one position, as llama-cpp-python's server (issue
  #1983): the value reported for prompt token i is log p(token i | tokens 0..i), read from the
  logits at position i instead of i-1. Generated tokens' log-probs stay right.
- `no_prompt_logprobs=True`: echo without log-probs (llama.cpp's own server).
- `fail_next`: HTTP statuses answered to the next requests (429/503: retried by the client).
- `other_tokenizer`: tokenises with another tokenizer than the model file's.
- `text_prompts_only=True`: token-id prompts refused with 422 (llama-cpp-python's server).
- `split_special_tokens=True`: the start token's text is tokenised as plain text.
- `stop()` / `start()`: the server goes away and comes back on the same port.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import torch


class FakeServer:
    """A loopback server scoring with `model`/`tokenizer` (fp32, one sequence at a time)."""

    def __init__(self, model: Any, tokenizer: Any, name: str = "tiny", *, shift: bool = False,
                 no_prompt_logprobs: bool = False, other_tokenizer: Any = None, api_key: str | None = None,
                 max_model_len: int = 256, tokenize: bool = True,
                 split_special_tokens: bool = False, text_prompts_only: bool = False):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.shift = shift
        self.no_prompt_logprobs = no_prompt_logprobs
        self.other_tokenizer = other_tokenizer
        self.api_key = api_key
        self.max_model_len = max_model_len
        self.has_tokenize = tokenize
        self.split_special_tokens = split_special_tokens
        self.text_prompts_only = text_prompts_only
        self.fail_next: list[int] = []
        self.completions = 0
        self.prompts_per_call: list[int] = []
        self.auth_headers: list[str | None] = []
        self.fail_after: int | None = None  # completions answered before every later one gets 503
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    # -- lifecycle
    def start(self) -> "FakeServer":
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> "FakeServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- the model
    def log_softmax(self, ids: list[int]) -> torch.Tensor:
        with torch.inference_mode():
            logits = self.model(torch.tensor([ids])).logits[0].float()
        return torch.log_softmax(logits, dim=-1)

    def tokenize(self, text: str) -> list[int]:
        tok = self.other_tokenizer or self.tokenizer
        if self.split_special_tokens:  # special tokens' text read as plain text
            return list(tok(text, add_special_tokens=False, split_special_tokens=True)["input_ids"])
        return list(tok(text, add_special_tokens=False)["input_ids"])

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        prompts = body["prompt"]
        if isinstance(prompts, str) or (prompts and isinstance(prompts[0], int)):
            prompts = [prompts]
        prompts = [self.tokenize(p) if isinstance(p, str) else list(p) for p in prompts]
        as_ids = bool(body.get("return_tokens_as_token_ids"))
        tok = self.tokenizer

        def name(t: int) -> str:
            return f"token_id:{t}" if as_ids else tok.convert_ids_to_tokens(int(t))

        choices = []
        for index, ids in enumerate(prompts):
            if len(ids) + int(body.get("max_tokens", 16)) > self.max_model_len:
                raise ValueError(f"This model's maximum context length is {self.max_model_len} tokens")
            lsm = self.log_softmax(ids)
            gen = int(torch.argmax(lsm[-1]))
            gen_lp = float(lsm[-1, gen])
            choice: dict[str, Any] = {"index": index, "text": tok.decode([gen]), "finish_reason": "length"}
            if body.get("logprobs") is not None:
                tokens, values = [name(gen)], [gen_lp]
                if body.get("echo"):
                    if self.shift:
                        echoed = [float(lsm[i, ids[i]]) for i in range(len(ids))]
                    else:
                        echoed = [None] + [float(lsm[i - 1, ids[i]]) for i in range(1, len(ids))]
                    tokens, values = [name(t) for t in ids] + tokens, echoed + values
                choice["logprobs"] = None if (self.no_prompt_logprobs and body.get("echo")) else {
                    "tokens": tokens, "token_logprobs": values,
                    "top_logprobs": [None] * len(values), "text_offset": [0] * len(values)}
            if body.get("prompt_logprobs") is not None and not self.no_prompt_logprobs:
                entries: list[Any] = [None]
                for i in range(1, len(ids)):
                    src = i if self.shift else i - 1
                    entries.append({str(ids[i]): {"logprob": float(lsm[src, ids[i]]), "rank": 1}})
                choice["prompt_logprobs"] = entries
            choices.append(choice)
        usage = {"prompt_tokens": sum(len(p) for p in prompts), "completion_tokens": len(prompts)}
        return {"id": "cmpl-fake", "object": "text_completion", "model": self.name, "choices": choices,
                "usage": usage}


def _handler(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, data: Any) -> None:
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _gate(self) -> bool:
            with fake._lock:
                if fake.fail_next:
                    self._send(fake.fail_next.pop(0), {"error": {"message": "injected failure"}})
                    return False
            if fake.api_key is not None and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                self._send(401, {"error": {"message": "bad API key"}})
                return False
            return True

        def do_GET(self) -> None:
            fake.auth_headers.append(self.headers.get("Authorization"))
            if not self._gate():
                return
            if self.path == "/v1/models":
                self._send(200, {"object": "list", "data": [
                    {"id": fake.name, "object": "model", "root": "/models/tiny", "max_model_len": fake.max_model_len}]})
            else:
                self._send(404, {"detail": "Not Found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            fake.auth_headers.append(self.headers.get("Authorization"))
            if not self._gate():
                return
            if self.path == "/tokenize" and fake.has_tokenize:
                if "prompt" not in body:
                    self._send(422, {"detail": "prompt missing"})
                    return
                ids = fake.tokenize(body["prompt"])
                self._send(200, {"tokens": ids, "count": len(ids), "max_model_len": fake.max_model_len})
            elif self.path == "/v1/completions":
                if body.get("model") != fake.name:
                    self._send(404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}})
                    return
                with fake._lock:
                    fake.completions += 1
                    dead = fake.fail_after is not None and fake.completions > fake.fail_after
                if dead:
                    self._send(503, {"error": {"message": "server going away"}})
                    return
                prompt = body.get("prompt")
                if fake.text_prompts_only and not (isinstance(prompt, str) or
                                                   (isinstance(prompt, list) and all(isinstance(x, str) for x in prompt))):
                    self._send(422, {"detail": [{"msg": "Input should be a valid string", "loc": ["body", "prompt"]}]})
                    return
                try:
                    answer = fake.complete(body)
                except ValueError as exc:
                    self._send(400, {"error": {"message": str(exc)}})
                    return
                fake.prompts_per_call.append(len(answer["choices"]))
                self._send(200, answer)
            else:
                self._send(404, {"detail": "Not Found"})

    return Handler


def tiny_served_folder(path: Path) -> Path:
    """A saved tiny GPT-2 (start token `<|endoftext|>`) for the served tests."""
    from tiny_models import save_tiny_model

    return save_tiny_model(path, "gpt2")
