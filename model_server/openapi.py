"""The OpenAPI 3.1 document of the model server, generated from the pydantic models in `api.py`."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic.json_schema import models_json_schema

from model_server.api import (
    API_VERSION,
    MAX_IMAGES,
    AnalyzeRequest,
    AnalyzeResponse,
    ConceptsRequest,
    ConceptsResponse,
    ErrorResponse,
    Health,
)

_REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


@cache
def openapi_document() -> dict[str, Any]:
    """The whole document (built once; the models do not change at run time)."""
    _, defs = models_json_schema(
        [
            (AnalyzeRequest, "validation"),
            (AnalyzeResponse, "serialization"),
            (ConceptsRequest, "validation"),
            (ConceptsResponse, "serialization"),
            (ErrorResponse, "serialization"),
            (Health, "serialization"),
        ],
        ref_template=_REF,
    )
    errors = {
        str(status): _json("ErrorResponse", description)
        for status, description in (
            (400, "unreadable JSON, image or multipart body"),
            (413, "body or image too large"),
            (415, "unsupported content type"),
            (422, "the request breaks the contract"),
            (500, "the model failed on this request"),
            (503, "queue full (see Retry-After) or shutting down"),
            (504, "timed out"),
        )
    }
    concept_errors = {
        **{status: errors[status] for status in ("400", "413", "415", "422", "500", "503", "504")},
        "501": _json("ErrorResponse", "this backend has no language model to read text with"),
    }
    multipart = {
        "type": "object",
        "required": ["request", "image"],
        "properties": {
            "request": {"type": "string", "contentMediaType": "application/json", "description": "AnalyzeRequest"},
            "image": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_IMAGES,
                "items": {"type": "string", "format": "binary"},
            },
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "dermatriage model server", "version": API_VERSION},
        "paths": {
            "/v1/analyze": {
                "post": {
                    "summary": "Analyse a case's images and answers",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": _ref("AnalyzeRequest")},
                            "multipart/form-data": {"schema": multipart},
                        },
                    },
                    "responses": {"200": _json("AnalyzeResponse", "the analysis"), **errors},
                }
            },
            "/v1/concepts": {
                "post": {
                    "summary": "The concepts a patient's words state, each with the exact words it rests on",
                    "description": (
                        "Every returned quote is a substring of `text`; claims whose words are not in the text "
                        "are dropped (their keys are listed in `dropped`). The model can only add findings."
                    ),
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("ConceptsRequest")}},
                    },
                    "responses": {"200": _json("ConceptsResponse", "what the model read"), **concept_errors},
                }
            },
            "/healthz": {
                "get": {
                    "summary": "A real minimal forward pass through the model",
                    "responses": {"200": _json("Health", "ready"), "503": _json("Health", "not ready")},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "text format 0.0.4", "content": {"text/plain": {}}}},
                }
            },
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI"}}}},
        },
        "components": {"schemas": defs.get("$defs", {})},
    }
