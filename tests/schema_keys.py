"""The keys the configuration schema allows, as the validation messages list them.

Tests that check an "unknown key" message build the expected list from the schema, so a
new configuration key changes the schema alone, not every such test.
"""

from pathlib import Path

import yaml

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"
_DOC = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))

#: Top-level keys, sorted and comma-separated.
TOP_KEYS = ", ".join(sorted(_DOC["properties"]))
#: Keys of one analysis, sorted and comma-separated.
ANALYSIS_KEYS = ", ".join(sorted(_DOC["properties"]["analyses"]["additionalProperties"]["properties"]))
