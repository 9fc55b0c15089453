"""The referral letter (PDF) of a case, and the patient's copy in their language: `triage/letters/letter.py`."""
