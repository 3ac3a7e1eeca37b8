"""Mantel–Haenszel and Peto pooling against metafor's rma.mh() and rma.peto().

Reference values: ``tests/reference/mh.json``, written by ``tests/reference/mh_cases.R``
(metafor 3.8; the R call stands beside each result). Closed-form statistics, so the
tolerance is rounding only.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import ketameta
from ketameta import rma_mh, rma_peto

REF = json.loads((Path(__file__).parent / "reference" / "mh.json").read_text())
CASES = REF["cases"]
# Sums of a few dozen terms and one log: anything beyond rounding is a bug.
RTOL = 1e-10
ATOL = 1e-13

EXPECTED_CASES = {
    "bcg", "li2007_zero_cells", "yusuf1985_table6", "li2007_to_all_no_correct",
    "rare_events", "k1", "no_events_in_treatment", "no_events_at_all", "equal_tables",
}
MEASURES = ("OR", "RR", "RD", "PETO")
FIELDS = ("estimate", "se", "ci_low", "ci_high", "statistic", "p_value", "Q", "Q_p", "I2", "H2")
OR_FIELDS = ("cmh_statistic", "cmh_p", "bd_statistic", "bd_p", "tarone_statistic", "tarone_p")


def _num(x):
    return np.nan if x is None else float(x)


def _fit(case, measure):
    o = case["options"]
    tables = {k: np.atleast_1d(np.asarray(case[k], dtype=float)) for k in ("ai", "bi", "ci", "di")}
    opts = dict(add=tuple(o["add"]), to=tuple(o["to"]), drop00=tuple(o["drop00"]), level=o["level"])
    if measure == "PETO":
        return rma_peto(**tables, **opts)
    return rma_mh(measure, **tables, correct=o["correct"], **opts)


def test_reference_grid_is_complete():
    assert set(CASES) == EXPECTED_CASES
    for case in CASES.values():
        assert set(case["results"]) == set(MEASURES)
    assert REF["metafor_version"].startswith("3.8")


@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize("name", sorted(EXPECTED_CASES))
def test_equals_metafor(name, measure):
    case = CASES[name]
    ref = case["results"][measure]
    res = _fit(case, measure)
    np.testing.assert_allclose(
        res.yi, np.atleast_1d(np.array(ref["yi"], dtype=float)), rtol=RTOL, atol=ATOL
    )
    np.testing.assert_allclose(
        res.vi, np.atleast_1d(np.array(ref["vi"], dtype=float)), rtol=RTOL, atol=ATOL
    )
    if "error" in ref:
        # metafor stops; ketameta gives NaN and says why
        assert np.isnan(res.estimate)
        assert any("cannot be used" in w for w in res.warnings)
        return
    assert res.k == ref["k"]
    assert res.k_yi == ref["k_yi"]
    fields = FIELDS + (OR_FIELDS if measure == "OR" else ())
    for f in fields:
        np.testing.assert_allclose(getattr(res, f), _num(ref[f]), rtol=RTOL, atol=ATOL, err_msg=f)
    if measure == "OR" and ref["bd_p"] is not None:
        assert res.bd_df == ref["k_pos"] - 1


def test_batch_equals_row_by_row():
    names = ["bcg", "li2007_zero_cells", "yusuf1985_table6", "rare_events", "k1"]
    kmax = max(len(np.atleast_1d(CASES[n]["ai"])) for n in names)
    arrays = {k: np.full((len(names), kmax), np.nan) for k in ("ai", "bi", "ci", "di")}
    for i, n in enumerate(names):
        for k in arrays:
            x = np.atleast_1d(CASES[n][k])
            arrays[k][i, : len(x)] = x
    for measure in MEASURES:
        if measure == "PETO":
            batch = rma_peto(**arrays)
        else:
            batch = rma_mh(measure, **arrays)
        for i, n in enumerate(names):
            ref = CASES[n]["results"][measure]
            for f in FIELDS:
                np.testing.assert_allclose(
                    getattr(batch, f)[i], _num(ref[f]), rtol=RTOL, atol=ATOL, err_msg=f"{n} {f}"
                )


def test_arm_sizes_give_the_same_result_as_non_events():
    c = CASES["bcg"]
    a, b, cc, d = (np.asarray(c[k], dtype=float) for k in ("ai", "bi", "ci", "di"))
    by_cells = rma_mh("OR", ai=a, bi=b, ci=cc, di=d)
    by_sizes = rma_mh("OR", ai=a, n1i=a + b, ci=cc, n2i=cc + d)
    assert by_cells.to_dict() == by_sizes.to_dict()


def test_to_dict_is_json_ready():
    res = rma_mh("OR", **{k: CASES["no_events_at_all"][k] for k in ("ai", "bi", "ci", "di")})
    d = res.to_dict()
    json.dumps(d)
    assert d["estimate"] is None and d["method"] == "MH"
    assert d["warnings"] and "undefined" in d["warnings"][0]


def test_exported_from_package():
    assert ketameta.rma_mh is rma_mh and ketameta.rma_peto is rma_peto


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(measure="SMD", ai=[1], bi=[2], ci=[3], di=[4]), "measure must be"),
        (dict(ai=[1], ci=[3], di=[4]), "either bi and di"),
        (dict(ai=[-1], bi=[2], ci=[3], di=[4]), "ai must be a non-negative count"),
        (dict(ai=[5], n1i=[4], ci=[1], n2i=[4]), "more events than participants"),
        (dict(ai=[1, 2], bi=[2], ci=[3], di=[4]), "has shape"),
        (dict(ai=[1], bi=[2], ci=[3], di=[4], to="some"), "to must be"),
        (dict(ai=[1], bi=[2], ci=[3], di=[4], level=0), "level must be"),
        (dict(ai=[np.nan], bi=[2], ci=[3], di=[4]), "no complete 2x2 table"),
    ],
)
def test_bad_input_stops_with_one_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        rma_mh(**kwargs)
