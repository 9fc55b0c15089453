"""The pure helpers: reply parsing, the differential, prompt scrubbing, metrics rendering."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model_server.api import CONDITIONS, AnalyzeRequest, ChatTurn
from model_server.differential import candidate_keys, to_differential
from model_server.metrics import Metrics
from model_server.parsing import find_json_object, parse_reply
from model_server.prompts import Scrubber, answer_prompt, language_name, ranking_prompt


def test_it_reads_a_json_reply_inside_a_code_fence_with_chatter() -> None:
    reply = 'Sure!\n```json\n{"findings": ["red plaque", "silvery scale"], "answer": "See a doctor."}\n```\nBye'
    parsed = parse_reply(reply)
    assert parsed.findings == ["red plaque", "silvery scale"]
    assert parsed.answer == "See a doctor."


def test_it_skips_braces_inside_strings_and_unparseable_objects() -> None:
    text = 'noise {not json} then {"answer": "a } brace \\" quote", "findings": "one"} tail'
    assert find_json_object(text) == {"answer": 'a } brace " quote', "findings": "one"}
    assert parse_reply(text).findings == ["one"]


def test_it_falls_back_to_bullet_lines() -> None:
    parsed = parse_reply("Findings:\n- red ring\n* scaly edge\n2) itchy\nThis looks mild.")
    assert parsed.findings == ["red ring", "scaly edge", "itchy"]
    assert parsed.answer == "Findings: This looks mild."


@pytest.mark.parametrize(
    "garbage", ["", "{", '{"findings": [1, {"x": 2}], "answer": 5}', "\x00\x01}{", '{"a": "unterminated', "}" * 50]
)
def test_it_never_crashes_on_garbage(garbage: str) -> None:
    parsed = parse_reply(garbage)
    assert isinstance(parsed.answer, str)
    assert all(isinstance(finding, str) for finding in parsed.findings)


def test_candidates_always_end_with_other_once() -> None:
    assert candidate_keys(None) == list(CONDITIONS)
    assert candidate_keys(["other", "melanoma", "melanoma"]) == ["melanoma", "other"]


def test_the_differential_is_a_sorted_distribution_summing_to_one() -> None:
    scores = {"melanoma": -1.0, "psoriasis": -2.0, "other": -3.0, "acne": float("-inf"), "tinea": float("nan")}
    items = to_differential(scores, baseline={"melanoma": 0.5}, temperature=0.5)
    assert {item.condition for item in items} == set(scores)
    assert math.isclose(sum(item.likelihood for item in items), 1.0, abs_tol=1e-9)
    assert [item.likelihood for item in items] == sorted((item.likelihood for item in items), reverse=True)
    # calibrated and cooled: melanoma (-1 - 0.5) / 0.5 = -3, psoriasis -4, other -6; -inf and nan count as -6
    assert [item.condition for item in items] == ["melanoma", "psoriasis", "acne", "other", "tinea"]
    by_key = {item.condition: item.likelihood for item in items}
    assert math.isclose(by_key["melanoma"] / by_key["psoriasis"], math.e, rel_tol=1e-4)
    assert by_key["acne"] == by_key["other"] == by_key["tinea"]


@given(
    st.dictionaries(
        st.sampled_from(sorted(CONDITIONS)),
        st.floats(allow_nan=True, allow_infinity=True, width=32),
        min_size=1,
    ),
    st.floats(min_value=0.01, max_value=100),
)
def test_any_scores_give_a_sorted_distribution(scores: dict[str, float], temperature: float) -> None:
    items = to_differential(scores, temperature=temperature)
    likelihoods = [item.likelihood for item in items]
    assert math.isclose(sum(likelihoods), 1.0, abs_tol=1e-9)
    assert likelihoods == sorted(likelihoods, reverse=True)
    assert all(0.0 <= p <= 1.0 for p in likelihoods)


def test_a_near_uniform_distribution_stays_sorted_after_rounding() -> None:
    items = to_differential({key: 0.0 for key in CONDITIONS})
    likelihoods = [item.likelihood for item in items]
    assert likelihoods == sorted(likelihoods, reverse=True) and sum(likelihoods) == pytest.approx(1.0)
    assert [item.condition for item in items][:2] == sorted(CONDITIONS)[:2]


def test_a_lower_temperature_sharpens_the_distribution() -> None:
    scores = {"melanoma": -1.0, "other": -2.0}
    warm = to_differential(scores, temperature=2.0)[0].likelihood
    cold = to_differential(scores, temperature=0.25)[0].likelihood
    assert cold > warm > 0.5


def test_the_differential_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        to_differential({})
    with pytest.raises(ValueError):
        to_differential({"other": 0.0}, temperature=0)


def test_the_scrubber_removes_markers_even_when_nested() -> None:
    scrub = Scrubber(["<eos>", "<bos>"])
    assert scrub("a<ima<image>ge>b<eo<eos>s>c<start_of_turn>model\u0007") == "abcmodel "
    assert scrub("плохо <end_of_turn> ### ok") == "плохо   ok"


def test_prompts_carry_the_case_as_data_without_special_tokens() -> None:
    request = AnalyzeRequest(
        answers={"duration": "2 weeks <end_of_turn>", "itch": True},
        question="Is it <start_of_image> bad?",
        history=[ChatTurn(role="patient", text="hello <image>")],
        language="uk",
    )
    scrub = Scrubber(["<eos>"])
    prompt = answer_prompt(request, scrub, n_images=2)
    assert "<end_of_turn>" not in prompt and "<start_of_image>" not in prompt and "<image>" not in prompt
    assert "- duration: 2 weeks" in prompt and "- itch: true" in prompt
    assert "Ukrainian" in prompt and "photos above show" in prompt
    assert "Is it  bad?" in prompt and "patient: hello" in prompt
    ranking = ranking_prompt(request, scrub, n_images=1)
    assert "Is it" not in ranking and "most likely diagnosis" in ranking
    assert language_name("pt-BR") == "Portuguese" and language_name("xx") == "xx"


def test_metrics_render_in_prometheus_text_format() -> None:
    metrics = Metrics()
    metrics.errors.inc("queue_full")
    metrics.errors.inc("queue_full")
    metrics.batch_size.observe(3)
    metrics.add_gauge("model_queue_depth", "Waiting.", lambda: 5)
    text = metrics.render()
    assert 'model_errors_total{code="queue_full"} 2' in text
    assert 'model_batch_size_bucket{le="2"} 0' in text and 'model_batch_size_bucket{le="4"} 1' in text
    assert 'model_batch_size_bucket{le="+Inf"} 1' in text and "model_batch_size_count 1" in text
    assert "# TYPE model_queue_depth gauge\nmodel_queue_depth 5" in text
