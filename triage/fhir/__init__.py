"""Interoperability: a case as a FHIR R4 transaction bundle (`bundle.py`), checked (`validate.py`), and pushed
to a configured FHIR server once per version (`push.py`). See docs/interoperability.md."""
