"""HTTP for the served backend: JSON POST/GET with timeouts, retries and one clear error.

A request that fails with 429, a 5xx status, a timeout or a refused/broken connection is retried
after an exponentially growing wait (``retry_backoff`` seconds, doubled each time, at most
:data:`MAX_WAIT_S`; a 429's ``Retry-After`` is honoured within that cap). Once the retries are
spent, or at once for any other 4xx, a :class:`~sdscm.errors.BackendError` names the URL, what
went wrong and what to do. The API key is sent as a bearer token and appears in no message.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests

from sdscm.errors import BackendError

logger = logging.getLogger("sdscm")
MAX_WAIT_S = 30.0
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class HTTPStatusError(BackendError):
    """The server answered with a status that is not retried (or retries are spent)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait for one response and how often to retry."""

    timeout_s: float = 300.0
    max_retries: int = 10
    backoff_s: float = 0.5

    def wait(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds before retry number `attempt` (0-based)."""
        wait = min(MAX_WAIT_S, self.backoff_s * 2.0**attempt)
        if retry_after is not None:
            try:
                wait = min(MAX_WAIT_S, max(wait, float(retry_after)))
            except ValueError:
                pass
        return wait


class JSONClient:
    """A thread-safe JSON client for one server (one `requests.Session` per thread)."""

    def __init__(self, root: str, api_key: str | None, policy: RetryPolicy):
        self.root = root.rstrip("/")
        self.policy = policy
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._local = threading.local()
        self.retries = 0  # retried attempts so far (all threads)

    def __getstate__(self) -> dict[str, Any]:  # sessions do not travel to other processes
        state = dict(self.__dict__)
        state.pop("_local", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def url(self, path: str) -> str:
        return f"{self.root}/{path.lstrip('/')}"

    def post(self, path: str, body: dict[str, Any], retry: bool = True) -> Any:
        """POST `body` as JSON and return the decoded answer (retried unless `retry` is False)."""
        return self._call("POST", path, body, retry)

    def get(self, path: str, retry: bool = True) -> Any:
        return self._call("GET", path, None, retry)

    def _call(self, method: str, path: str, body: dict[str, Any] | None, retry: bool) -> Any:
        url = self.url(path)
        attempts = self.policy.max_retries + 1 if retry else 1
        problem = ""
        for attempt in range(attempts):
            retry_after = None
            try:
                response = self._session().request(
                    method, url, json=body, headers=self._headers, timeout=(10.0, self.policy.timeout_s)
                )
            except requests.Timeout:
                problem = f"no answer within {self.policy.timeout_s:g} s"
            except requests.ConnectionError as exc:
                problem = f"connection failed ({_short_reason(exc)})"
                self._local.session = None  # a fresh connection next time
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError:
                        raise BackendError(
                            f"{url} answered with something that is not JSON ({response.text[:120]!r}); "
                            "is base_url the address of an OpenAI-compatible server?"
                        ) from None
                detail = _error_detail(response)
                problem = f"HTTP {response.status_code}: {detail}"
                if response.status_code not in RETRY_STATUS:
                    raise HTTPStatusError(f"{url} refused the request ({problem})", response.status_code)
                retry_after = response.headers.get("Retry-After")
            if attempt + 1 < attempts:
                wait = self.policy.wait(attempt, retry_after)
                self.retries += 1
                # One warning per request still failing after two retries (a restart, an outage);
                # quicker blips stay at info level.
                level = logging.WARNING if attempt == 2 else logging.INFO
                logger.log(level, "%s: %s; retry %d of %d in %.1f s (waiting up to %.0f s more)", url, problem,
                           attempt + 1, attempts - 1, wait,
                           sum(self.policy.wait(a) for a in range(attempt, attempts - 1)))
                time.sleep(wait)
        raise BackendError(
            f"the language-model server at {url} failed: {problem}"
            + (f", still after {attempts - 1} retries" if attempts > 1 else "")
            + "; check that the server is running and reachable (base_url), then re-run the same "
            "command: finished work is kept (score cache, resumable outputs)"
        )


def _short_reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    for marker in ("Connection refused", "Connection reset", "Remote end closed", "Name or service not known"):
        if marker in text:
            return marker.lower()
    return text[:160]


def _error_detail(response: requests.Response) -> str:
    """The server's own error message, short."""
    try:
        data = response.json()
    except ValueError:
        return " ".join(response.text.split())[:300] or response.reason
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message", data)))
        if isinstance(err, dict):
            err = err.get("message", err)
        return " ".join(str(err).split())[:300]
    return json.dumps(data)[:300]
