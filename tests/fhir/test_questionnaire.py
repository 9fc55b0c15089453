"""The FHIR Questionnaire mirrors the bot's questionnaire: a change to one without the other fails here."""

from __future__ import annotations

from bot import questionnaire as qn
from tests.fhir.schema import schema_errors
from triage.fhir.questionnaire import NOT_STEPS, QUESTIONS, questionnaire, questionnaire_response
from triage.fhir.validate import validate_resource


def test_every_step_of_the_bot_is_an_item_with_the_same_answers() -> None:
    items = {q.link_id: q for q in QUESTIONS}
    assert [s.key for s in qn.STEPS] == [q.link_id for q in QUESTIONS if q.link_id not in NOT_STEPS]
    for step in qn.STEPS:
        item = items[step.key]
        assert item.repeats == (step.kind == "multi"), step.key
        if item.type == "choice":
            assert item.options == tuple(o.value for o in step.options), step.key
        elif item.type == "boolean":
            assert {o.value for o in step.options} == {True, False, None}, step.key
        else:  # age and duration: the options are bands of a number the contract keeps
            assert all(isinstance(o.value, int | float) for o in step.options), step.key


def test_the_questionnaire_is_valid_fhir() -> None:
    resource = questionnaire()
    assert validate_resource(resource) == []
    assert schema_errors(resource) == []
    assert len(resource["item"]) == len(QUESTIONS)


def test_not_sure_and_skin_type_travel_in_the_response() -> None:
    """A symptom the patient was not sure about is sent as unknown, never dropped (which would read as "no")."""
    response = questionnaire_response({"skin_type": "V"}, {"symptoms": ["itch"], "skipped": ["changing_size", "x"]},
                                      "")
    items = {i["linkId"]: [a["valueCoding"]["code"] for a in i["answer"]] for i in response["item"]}
    assert items["unsure"] == ["changing_size"]
    assert items["skin_type"] == ["V"]
    assert items["symptoms"] == ["itch"] and "mole" not in items
    assert validate_resource(response) == [] and schema_errors(response) == []
