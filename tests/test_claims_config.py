"""config/claims.yaml: the shipped claims validate, and bad entries stop with one message
naming the file, the line, the claim and the key."""

from pathlib import Path

import pytest

from ketameta import claims
from ketameta.io import DataError

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "claims.schema.yaml"
CONFIG = {
    "conditions": {
        "TRD": {},
        "MDD": {},
        "suicidality": {},
        "PTSD": {},
        "anxiety": {},
        "bipolar": {},
        "OCD": {},
    },
    "outcomes": {
        "response": {},
        "remission": {},
        "relapse": {},
        "depression_severity": {},
        "suicidal_ideation_resolution": {},
        "ptsd_severity": {},
    },
    "analyses": {"trd_response_24h": {}},
}


def test_shipped_claims_validate():
    data = claims.load(ROOT / "config" / "claims.yaml", CONFIG, SCHEMA)
    assert len(data["claims"]) == 16
    for claim in data["claims"].values():
        assert claim["quote"].strip()
        for check in claim["checks"]:
            if check["kind"] == "proportion":
                assert check["arm"] == "treatment"  # schema default filled in


MINIMAL = """\
articles:
  a: {title: T}
claims:
  c1:
    article: a
    quote: q
    checks:
      - kind: effect
        condition: TRD
        outcome: response
"""


def load_text(tmp_path, text):
    path = tmp_path / "claims.yaml"
    path.write_text(text)
    return claims.load(path, CONFIG, SCHEMA)


def test_minimal_file_loads(tmp_path):
    assert load_text(tmp_path, MINIMAL)["claims"]["c1"]["checks"][0]["kind"] == "effect"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "condition: TRD",
            "condition: TDR",
            "config/claims.yaml, line 9, claims.c1.checks.0.condition: unknown condition 'TDR'",
        ),
        (
            "outcome: response",
            "outcome: respnse",
            "config/claims.yaml, line 10, claims.c1.checks.0.outcome: unknown outcome 'respnse'",
        ),
        ("kind: effect", "kind: efect", "config/claims.yaml, line 8, claims.c1.checks.0.kind:"),
        (
            "article: a",
            "article: b",
            "config/claims.yaml, line 5, claims.c1.article: unknown article 'b'",
        ),
        (
            "        outcome: response\n",
            "        outcome: response\n        range: [0.5, 0.6]\n",
            "claims.c1.checks.0.range: 'range' is not read by a check of kind 'effect'",
        ),
        (
            "kind: effect",
            "kind: proportion",
            "claims.c1.checks.0: a check of kind 'proportion' needs 'range'",
        ),
        (
            "        condition: TRD\n        outcome: response\n",
            "        analysis: nope\n",
            "claims.c1.checks.0.analysis: unknown analysis 'nope'",
        ),
        ("    quote: q\n", "    quote: q\n    verdict: consistent\n", "claims.c1:"),
    ],
)
def test_bad_entries_name_file_line_claim_and_key(tmp_path, old, new, message):
    assert old in MINIMAL
    with pytest.raises(DataError) as err:
        load_text(tmp_path, MINIMAL.replace(old, new))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_key_given_twice_is_refused_not_ignored(tmp_path):
    # the second "quote:" would silently replace the first under a plain YAML load
    with pytest.raises(DataError) as err:
        load_text(tmp_path, MINIMAL.replace("    quote: q\n", "    quote: q\n    quote: r\n"))
    assert "line 7" in str(err.value)
    assert "'quote' is given twice in one mapping (first on line 6)" in str(err.value)


def test_unparsable_and_non_mapping_files(tmp_path):
    with pytest.raises(DataError, match="line 3: not valid YAML"):
        load_text(tmp_path, "articles:\n  a: [\n")
    with pytest.raises(DataError, match="empty; it needs articles: and claims:"):
        load_text(tmp_path, "# nothing yet\n")
    with pytest.raises(DataError, match="must be a mapping"):
        load_text(tmp_path, "- a\n- b\n")
