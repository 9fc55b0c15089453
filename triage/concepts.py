"""The concepts a model is asked to look for in the patient's words (`/v1/concepts`), each in one line.

The same concepts the rules read from the words (`triage.rules.CONCEPTS`), except the age, which needs a number
the extractor reads itself. What the model finds can only add to the rules' own reading (CLINICAL.md "Free
text"); a test checks that this table and the rules' concepts agree.
"""

from __future__ import annotations

CONCEPT_DESCRIPTIONS: dict[str, str] = {
    "difficulty_breathing": "the person has difficulty breathing, is short of breath or their throat feels tight",
    "swelling_face_lips_tongue": "the face, lips, tongue, eyelids or throat are swelling",
    "non_blanching_rash": "spots or a rash that do not fade when pressed (glass test), purple or red dots",
    "fever": "fever, high temperature (38 C / 100.4 F or more), chills or shivering",
    "feeling_very_unwell": "feeling very ill: confused, drowsy, fainting, vomiting, collapsing",
    "severe_pain": "pain that is severe or out of proportion",
    "pain": "the skin problem hurts or is sore or tender",
    "rapidly_spreading": "redness or rash spreading or growing quickly (over hours or a day)",
    "skin_peeling": "skin peeling, coming off in sheets, or sloughing",
    "blisters": "blisters or fluid-filled bubbles on the skin",
    "mucosal_involvement": "sores, ulcers or blisters in the mouth, eyes or genitals, or painful swallowing",
    "new_medication": "a new medicine was started recently (days or weeks before)",
    "near_eye": "the problem is on or near the eye or eyelid",
    "non_healing": "a sore or spot that has not healed for weeks",
    "bleeding": "the spot or skin bleeds",
    "oozing": "oozing, weeping, pus or discharge",
    "inflammation": "redness with swelling or heat around the spot",
    "itch": "itching",
    "changing_size": "a spot or mole that is getting bigger",
    "changing_shape": "a spot or mole whose shape or edge has changed or is irregular",
    "changing_colour": "a spot or mole whose colour has changed, darkened or is uneven",
    "diameter_7mm_or_more": "a spot 7 mm across or larger",
    "change_in_sensation": "tingling, numbness or itch in a mole",
    "pregnant": "the person is pregnant",
    "immunosuppressed": "a weak immune system: chemotherapy, transplant, immunosuppressive or steroid medicines",
    "diabetes": "the person has diabetes",
    "most_of_body": "red skin or rash over most or all of the body",
    "mole": "the problem is a mole, birthmark or freckle",
    "lesion": "the problem is a spot, mole, growth or lump",
    "acne_scarring_or_nodular": "acne with scars, deep nodules or cysts",
    "foot": "the problem is on the foot, toes or heel",
    "wound": "a wound, ulcer, cut or open sore",
}
