"""Tokenisation of score requests: the lm-eval convention of DESIGN.md section 1 ("Score")."""

from __future__ import annotations

import pytest
from tiny_models import tiny_tokenizer

from sdscm.backends.base import ScoreRequest
from sdscm.backends.tokenization import encode_request, encode_requests, split_trailing_whitespace
from sdscm.errors import BackendError

START = 7  # any id works as the start token; the encoder never looks it up


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


def ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize(
    "context, head, ws",
    [
        ("The tumor is ", "The tumor is", " "),
        ("The tumor is   ", "The tumor is", "   "),
        ("The tumor is\n", "The tumor is", "\n"),
        ("The tumor is \n\t ", "The tumor is", " \n\t "),
        ("no trailing", "no trailing", ""),
        ("  leading kept", "  leading kept", ""),
        ("", "", ""),
        ("   ", "", "   "),
    ],
)
def test_split_trailing_whitespace(context: str, head: str, ws: str) -> None:
    """Only trailing whitespace is split off, and head + ws is the original text."""
    assert split_trailing_whitespace(context) == (head, ws)
    assert head + ws == context


def test_design_example_shape(tok) -> None:
    """DESIGN's example: context ids = [start] + tok(context without the trailing space),
    continuation ids = tok(" grade 2")."""
    ctx, conts = encode_request(tok, START, ScoreRequest("She is 45. The tumor is ", ("grade 2",)))
    assert ctx == [START] + ids(tok, "She is 45. The tumor is")
    assert conts == [ids(tok, " grade 2")]


@pytest.mark.parametrize("ws", [" ", "  ", "\n", " \n", "\t"])
def test_trailing_whitespace_moves_to_every_continuation(tok, ws: str) -> None:
    """Trailing whitespace (one, several, newline, tab) is removed from the context and prefixed
    to each continuation."""
    req = ScoreRequest("Their time is" + ws, ("under 4 hours", "over 5 hours"))
    ctx, conts = encode_request(tok, START, req)
    assert ctx == [START] + ids(tok, "Their time is")
    assert conts == [ids(tok, ws + "under 4 hours"), ids(tok, ws + "over 5 hours")]


def test_leading_spaces_of_a_continuation_are_kept(tok) -> None:
    """A continuation's own leading spaces are part of it, after any moved context whitespace."""
    assert encode_request(tok, START, ScoreRequest("x", (" y",)))[1] == [ids(tok, " y")]
    assert encode_request(tok, START, ScoreRequest("x ", (" y",)))[1] == [ids(tok, "  y")]


def test_multi_token_candidates(tok) -> None:
    """A multi-word candidate becomes several tokens, exactly the tokenizer's encoding."""
    _, conts = encode_request(tok, START, ScoreRequest("Marathon time: ", ("4 to 5 hours",)))
    assert len(conts[0]) > 1
    assert conts[0] == ids(tok, " 4 to 5 hours")


@pytest.mark.parametrize(
    "context, cont", [("Café crème ", "naïve"), ("東京は ", "晴れです"), ("Party ", "🎉👍🏽"), ("São ", "Paulo ☀")]
)
def test_unicode_round_trips(tok, context: str, cont: str) -> None:
    """Accents, CJK and emoji survive: decoding the ids gives back the texts (ws moved)."""
    ctx, conts = encode_request(tok, START, ScoreRequest(context, (cont,)))
    head, ws = split_trailing_whitespace(context)
    assert tok.decode(ctx[1:]) == head
    assert tok.decode(conts[0]) == ws + cont
    assert tok.decode(ctx[1:] + conts[0]) == context + cont


def test_empty_context_is_just_the_start_token(tok) -> None:
    """An empty context encodes to [start]; a whitespace-only context also moves its ws."""
    assert encode_request(tok, START, ScoreRequest("", ("sunny",))) == ([START], [ids(tok, "sunny")])
    assert encode_request(tok, START, ScoreRequest("  ", ("sunny",))) == ([START], [ids(tok, "  sunny")])


def test_empty_continuation_is_an_error(tok) -> None:
    """A continuation with no tokens cannot be scored: a clear BackendError, not a silent 0."""
    with pytest.raises(BackendError, match="no tokens"):
        encode_request(tok, START, ScoreRequest("The day is", ("sunny", "")))
    # with moved whitespace it is not empty any more
    assert encode_request(tok, START, ScoreRequest("The day is ", ("",)))[1] == [ids(tok, " ")]


def test_no_special_tokens_are_added(tok) -> None:
    """Only the one start token is special; the tokenizer's BOS/EOS are never inserted."""
    ctx, conts = encode_request(tok, START, ScoreRequest("a b", ("c",)))
    specials = {tok.bos_token_id, tok.eos_token_id}
    assert not specials & set(ctx[1:] + conts[0])


def test_batched_encoding_equals_one_at_a_time(tok) -> None:
    """encode_requests (one tokenizer call) gives exactly encode_request per request."""
    reqs = [
        ScoreRequest("She is 45. The tumor is ", ("grade 1", "grade 2", "grade 3")),
        ScoreRequest("", ("東京",)),
        ScoreRequest("It is\n", ("rainy", "snowy")),
        ScoreRequest("No candidates", ()),
    ]
    assert encode_requests(tok, START, reqs) == [encode_request(tok, START, r) for r in reqs]
    assert encode_requests(tok, START, []) == []
