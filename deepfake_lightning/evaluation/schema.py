"""The fixed schema of metrics.json (shipped as JSON Schema) and a validator for it."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def metrics_schema() -> dict[str, Any]:
    """The JSON Schema of metrics.json."""
    return json.loads(resources.files("deepfake_lightning.schemas").joinpath("metrics.schema.json").read_text())


def validate_metrics(metrics: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError (with the failing path) when metrics.json breaks the schema."""
    import jsonschema

    jsonschema.validate(metrics, metrics_schema())
