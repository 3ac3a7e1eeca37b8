"""The methods section of a report, written from the configuration.

Nothing here is boilerplate typed once: every sentence is chosen by the effective settings
of the analyses on the page (:func:`ketameta.profiles.effective_config`) and by the
``summary.json`` of each analysis, so changing ``config/config.yaml`` changes the text.
Citations are author–year; :func:`methods_section` returns only the references it cites.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from .._results import WARNING_TEXT
from ..fewtrials import FEW_TRIALS
from ..profiles import effective_config

__all__ = ["REFERENCES", "few_trial_settings", "is_engine_note", "methods_section"]

def few_trial_settings(config: Mapping) -> dict:
    """The ``few_trials:`` settings of a configuration, defaults filled in."""
    return {**FEW_TRIALS, **(config.get("few_trials") or {})}


def _note_pattern(template: str) -> re.Pattern:
    parts = re.split(r"\{[a-z_]+\}", template)
    return re.compile(".+?".join(re.escape(p) for p in parts) + r"\Z", re.S)


#: The estimation engine's own notes (search limits, k = 1 switches, fallbacks).
_ENGINE_NOTES = tuple(_note_pattern(t) for t in WARNING_TEXT.values())


def is_engine_note(text: str) -> bool:
    """Whether a ``summary.json`` warning is a note of the estimation engine.

    Those belong in the methods (how a number was obtained), not in a warning box beside
    the result; notes about the data (rows left out, shared control arms) stay there.
    """
    return any(p.match(str(text)) for p in _ENGINE_NOTES)

#: Every reference a methods section can cite, keyed by its in-text citation.
REFERENCES: dict[str, str] = {
    "Altman 1998": "Altman DG (1998). Confidence intervals for the number needed to treat. "
                   "BMJ 317:1309–1312.",
    "Begg & Mazumdar 1994": "Begg CB, Mazumdar M (1994). Operating characteristics of a rank "
                            "correlation test for publication bias. Biometrics 50:1088–1101.",
    "Deeks & Higgins 2010": "Deeks JJ, Higgins JPT (2010). Statistical algorithms in Review "
                            "Manager 5. The Cochrane Collaboration.",
    "DerSimonian & Laird 1986": "DerSimonian R, Laird N (1986). Meta-analysis in clinical "
                                "trials. Controlled Clinical Trials 7:177–188.",
    "Duval & Tweedie 2000": "Duval S, Tweedie R (2000). Trim and fill: a simple funnel-plot-"
                            "based method of testing and adjusting for publication bias in "
                            "meta-analysis. Biometrics 56:455–463.",
    "Egger et al. 1997": "Egger M, Davey Smith G, Schneider M, Minder C (1997). Bias in "
                         "meta-analysis detected by a simple, graphical test. BMJ 315:629–634.",
    "Freeman & Tukey 1950": "Freeman MF, Tukey JW (1950). Transformations related to the "
                            "angular and the square root. Annals of Mathematical Statistics "
                            "21(4):607–611.",
    "Hartung & Knapp 2001": "Hartung J, Knapp G (2001). A refined method for the meta-analysis "
                            "of controlled clinical trials with binary outcome. Statistics in "
                            "Medicine 20:3875–3889.",
    "Hedges 1981": "Hedges LV (1981). Distribution theory for Glass's estimator of effect size "
                   "and related estimators. Journal of Educational Statistics 6:107–128.",
    "Hedges & Olkin 1985": "Hedges LV, Olkin I (1985). Statistical methods for meta-analysis. "
                           "Academic Press.",
    "Higgins & Thompson 2002": "Higgins JPT, Thompson SG (2002). Quantifying heterogeneity in a "
                               "meta-analysis. Statistics in Medicine 21:1539–1558.",
    "Higgins et al. 2009": "Higgins JPT, Thompson SG, Spiegelhalter DJ (2009). A re-evaluation "
                           "of random-effects meta-analysis. Journal of the Royal Statistical "
                           "Society A 172:137–159.",
    "Higgins et al. 2023": "Higgins JPT, Thomas J, Chandler J, et al., eds (2023). Cochrane "
                           "Handbook for Systematic Reviews of Interventions, version 6.4. "
                           "Cochrane.",
    "Knapp & Hartung 2003": "Knapp G, Hartung J (2003). Improved tests for a random effects "
                            "meta-regression with a single covariate. Statistics in Medicine "
                            "22:2693–2710.",
    "Paule & Mandel 1982": "Paule RC, Mandel J (1982). Consensus values and weighting factors. "
                           "Journal of Research of the National Bureau of Standards 87:377–385.",
    "Peters et al. 2008": "Peters JL, Sutton AJ, Jones DR, Abrams KR, Rushton L (2008). "
                          "Contour-enhanced meta-analysis funnel plots help distinguish "
                          "publication bias from other causes of asymmetry. Journal of Clinical "
                          "Epidemiology 61:991–996.",
    "Sidik & Jonkman 2002": "Sidik K, Jonkman JN (2002). A simple confidence interval for "
                            "meta-analysis. Statistics in Medicine 21:3153–3159.",
    "Sterne et al. 2011": "Sterne JAC, Sutton AJ, Ioannidis JPA, et al. (2011). Recommendations "
                          "for examining and interpreting funnel plot asymmetry in meta-analyses "
                          "of randomised controlled trials. BMJ 343:d4002.",
    "Viechtbauer 2005": "Viechtbauer W (2005). Bias and efficiency of meta-analytic variance "
                        "estimators in the random-effects model. Journal of Educational and "
                        "Behavioral Statistics 30:261–293.",
    "Viechtbauer 2007": "Viechtbauer W (2007). Confidence intervals for the amount of "
                        "heterogeneity in meta-analysis. Statistics in Medicine 26:37–52.",
    "Viechtbauer 2010": "Viechtbauer W (2010). Conducting meta-analyses in R with the metafor "
                        "package. Journal of Statistical Software 36(3):1–48.",
    "Viechtbauer & Cheung 2010": "Viechtbauer W, Cheung MWL (2010). Outlier and influence "
                                 "diagnostics for meta-analysis. Research Synthesis Methods "
                                 "1:112–125.",
    "Elbourne et al. 2002": "Elbourne DR, Altman DG, Higgins JPT, Curtin F, Worthington HV, "
                            "Vail A (2002). Meta-analyses involving cross-over trials: "
                            "methodological issues. International Journal of Epidemiology "
                            "31:140–149.",
    "Stijnen et al. 2010": "Stijnen T, Hamza TH, Özdemir P (2010). Random effects "
                           "meta-analysis of event outcome in the framework of the generalized "
                           "linear mixed model with applications in sparse data. Statistics in "
                           "Medicine 29:3046–3067.",
    "Schwarzer et al. 2019": "Schwarzer G, Chemaitelly H, Abu-Raddad LJ, Rücker G (2019). "
                             "Seriously misleading results using inverse of Freeman–Tukey "
                             "double arcsine transformation in meta-analysis of single "
                             "proportions. Research Synthesis Methods 10:476–483.",
    "Pustejovsky & Tipton 2018": "Pustejovsky JE, Tipton E (2018). Small-sample methods for "
                                 "cluster-robust variance estimation and hypothesis testing in "
                                 "fixed effects models. Journal of Business & Economic "
                                 "Statistics 36:672–683.",
    "Konstantopoulos 2011": "Konstantopoulos S (2011). Fixed effects and variance components "
                            "estimation in three-level meta-analysis. Research Synthesis "
                            "Methods 2:61–76.",
    "Friede et al. 2017": "Friede T, Röver C, Wandel S, Neuenschwander B (2017). "
                          "Meta-analysis of few small studies in orphan diseases. Research "
                          "Synthesis Methods 8:79–91.",
    "Röver et al. 2021": "Röver C, Bender R, Dias S, Schmid CH, Schmidli H, Sturtz S, Weber S, "
                         "Friede T (2021). On weakly informative prior distributions for the "
                         "heterogeneity parameter in Bayesian random-effects meta-analysis. "
                         "Research Synthesis Methods 12:448–474.",
    "Hunter & Schmidt 2004": "Hunter JE, Schmidt FL (2004). Methods of meta-analysis: correcting "
                             "error and bias in research findings, 2nd ed. Sage.",
    "Hedges 1983": "Hedges LV (1983). A random effects model for effect sizes. Psychological "
                   "Bulletin 93:388–395.",
    "Sidik & Jonkman 2005": "Sidik K, Jonkman JN (2005). Simple heterogeneity variance "
                            "estimation for meta-analysis. Journal of the Royal Statistical "
                            "Society C 54:367–384.",
    "Morris 1983": "Morris CN (1983). Parametric empirical Bayes inference: theory and "
                   "applications. Journal of the American Statistical Association 78:47–55.",
}

_ESTIMATORS = {
    "EE": ("no between-trial variance (equal-effects model)", []),
    "FE": ("no between-trial variance (equal-effects model)", []),
    "DL": ("the DerSimonian–Laird method-of-moments estimator", ["DerSimonian & Laird 1986"]),
    "HE": ("the Hedges estimator", ["Hedges 1983"]),
    "HS": ("the Hunter–Schmidt estimator", ["Hunter & Schmidt 2004"]),
    "SJ": ("the Sidik–Jonkman estimator", ["Sidik & Jonkman 2005"]),
    "ML": ("maximum likelihood", ["Viechtbauer 2005"]),
    "REML": ("restricted maximum likelihood (REML)", ["Viechtbauer 2005"]),
    "EB": ("the empirical Bayes estimator", ["Morris 1983"]),
    "PM": ("the Paule–Mandel estimator", ["Paule & Mandel 1982"]),
}

_TESTS = {
    "z": ("Wald-type confidence intervals and z tests based on the standard normal "
          "distribution", []),
    "knha": ("the Hartung–Knapp–Sidik–Jonkman method: the variance of the pooled effect is "
             "rescaled by the weighted residual variance and CIs and tests use the t "
             "distribution with k − 1 degrees of freedom",
             ["Hartung & Knapp 2001", "Sidik & Jonkman 2002"]),
    "adhoc": ("the Hartung–Knapp–Sidik–Jonkman method with the ad hoc correction (the "
              "rescaling factor is not allowed below 1, so the CI is never narrower than the "
              "z-based one), t distribution with k − 1 degrees of freedom",
              ["Knapp & Hartung 2003"]),
    "t": ("CIs and tests based on the t distribution with k − 1 degrees of freedom without "
          "rescaling", []),
}

_PROFILES = {
    "cochrane": "the Cochrane Handbook's current recommendations (REML, "
                "Hartung–Knapp–Sidik–Jonkman, prediction intervals)",
    "metafor": "metafor's defaults (REML, z tests)",
    "revman5": "Review Manager 5 (DerSimonian–Laird, z tests, RevMan's SMD variance)",
    "iqwig": "IQWiG's General Methods (Paule–Mandel, ad hoc Hartung–Knapp correction)",
}

_MEASURE_FORMULAS = {
    "SMD": ("Standardised mean differences are Hedges' g: the difference in means divided "
            "by the pooled within-trial SD and multiplied by the exact small-sample "
            "correction J(m) = Γ(m/2) / (√(m/2) Γ((m − 1)/2)), m = n₁ + n₂ − 2",
            ["Hedges 1981"]),
    "MD": ("Mean differences are the raw difference of the arm means with variance "
           "s₁²/n₁ + s₂²/n₂", []),
    "RR": ("Risk ratios are pooled on the log scale: log(RR) = log((a/n₁)/(c/n₂)) with "
           "variance 1/a − 1/n₁ + 1/c − 1/n₂", []),
    "OR": ("Odds ratios are pooled on the log scale: log(OR) = log(ad/(bc)) with variance "
           "1/a + 1/b + 1/c + 1/d", []),
    "RD": ("Risk differences are p₁ − p₂ with variance p₁(1 − p₁)/n₁ + p₂(1 − p₂)/n₂", []),
    "PLO": ("Proportions are pooled as logits, log(x/(n − x)), with variance "
            "1/x + 1/(n − x)", []),
    "PFT": ("Proportions are pooled on the Freeman–Tukey double-arcsine scale, "
            "½(arcsin √(x/(n + 1)) + arcsin √((x + 1)/(n + 1))), with variance 1/(4n + 2)",
            ["Freeman & Tukey 1950"]),
    "PR": ("Proportions are pooled on the raw scale with variance p(1 − p)/n", []),
    "GEN": ("Effects reported by the trials are pooled as given", []),
}

_SMD_VTYPES = {
    "LS": ("with the large-sample variance 1/n₁ + 1/n₂ + g²/(2(n₁ + n₂)), metafor's default",
           []),
    "RevMan": ("with Review Manager 5's variance 1/n₁ + 1/n₂ + g²/(2(n₁ + n₂ − 3.94))",
               ["Deeks & Higgins 2010"]),
}

_ZERO_RULES = {
    "only0": "to every cell of the 2×2 tables that have a zero cell (and only those)",
    "all": "to every cell of all 2×2 tables",
    "if0all": "to every cell of all 2×2 tables if any table has a zero cell",
    "none": "to no table",
}


def _cite(keys: Sequence[str], cited: list[str]) -> str:
    for key in keys:
        if key not in cited:
            cited.append(key)
    return f" ({'; '.join(keys)})" if keys else ""


def _join(parts: Sequence[str]) -> str:
    parts = list(parts)
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


#: Sources of the risk-of-bias and GRADE rules (ketameta.rob, ketameta.grade).
REFERENCES.update({
    "Sterne et al. 2019": "Sterne JAC, Savović J, Page MJ, et al. (2019). RoB 2: a revised "
                          "tool for assessing risk of bias in randomised trials. BMJ 366:l4898. "
                          "doi:10.1136/bmj.l4898",
    "Schünemann et al. 2013": "Schünemann H, Brożek J, Guyatt G, Oxman A, eds. (2013). GRADE "
                              "handbook for grading quality of evidence and strength of "
                              "recommendations. The GRADE Working Group.",
    "Guyatt et al. 2011": "Guyatt GH, Oxman AD, et al. (2011). GRADE guidelines 1–9. J Clin "
                          "Epidemiol 64:383–394, 395–400, 401–406, 407–415 (risk of bias), "
                          "1277–1282 (publication bias), 1283–1293 (imprecision), 1294–1302 "
                          "(inconsistency), 1303–1310 (indirectness).",
    "Santesso et al. 2020": "Santesso N, Glenton C, Dahm P, et al. (2020). GRADE guidelines 26: "
                            "informative statements to communicate the findings of systematic "
                            "reviews of interventions. J Clin Epidemiol 119:126–135. "
                            "doi:10.1016/j.jclinepi.2019.10.014",
})


def _certainty_paragraphs(config: Mapping, cited: list[str]) -> list[str]:
    """Risk of bias and GRADE: the rules of ketameta.rob and ketameta.grade, in words."""
    from ketameta import grade

    cfg = grade.settings(config)
    mids = ", ".join(f"{m} {v:g}" for m, v in cfg["mid"].items() if v is not None)
    out = [
        "Risk of bias: each trial's RoB 2 judgement (five domains: randomisation, deviations "
        "from intended interventions, missing outcome data, measurement of the outcome, "
        "selection of the reported result; low, some concerns or high)"
        + _cite(["Sterne et al. 2019"], cited) + ". The overall judgement is derived from "
        "the domains by the tool's algorithm where only domains are given (high if any domain "
        "is high, low if all are low, otherwise some concerns) and checked against them where "
        "both are. A missing judgement is shown as not assessed, never as low risk. Forests "
        "show each trial's domains and overall judgement and, under the pooled result, the "
        "share of weight at each judgement.",
        "Certainty of the evidence (GRADE)" + _cite(["Schünemann et al. 2013",
                                                    "Guyatt et al. 2011"], cited)
        + ": randomised trials start at high certainty and are rated down by fixed rules. "
        "Risk of bias: two levels when trials at high risk carry half of the weight or more, "
        "one level when trials at high risk, with some concerns or not assessed do. "
        "Inconsistency: two levels when I² ≥ 75% and trial estimates point both ways, one "
        "level when I² ≥ 50%, or when the prediction interval includes no effect although "
        "the confidence interval excludes it and trial estimates point both ways. "
        "Indirectness: one level when trials with an active comparator (other than "
        f"{', '.join(cfg['direct_comparators'])}) or a population that differs from the "
        f"question ({', '.join(cfg['indirect_populations'])}) carry half of the weight or "
        "more. Imprecision: two levels when the confidence interval includes no effect and "
        f"both an appreciable benefit and harm (minimal important differences: {mids}; "
        "ratios as relative changes); one level when it includes no effect, or excludes it "
        "with fewer participants than the optimal information size (one trial powered at "
        "80% for a 25% relative change of the control risk; 400 participants for continuous "
        "outcomes), or with the number of participants not reported, or, where a control "
        "risk of 0 leaves no information size, with fewer than 300 events. Publication bias: "
        "from "
        f"{cfg['min_k_publication_bias']} trials, one level when Egger's test gives "
        "p < 0.10; with fewer trials not assessed. An analyst's override in the "
        "configuration replaces a domain's rule and its reason is printed. The key findings "
        "use GRADE's wording for each certainty level (high: \"lowers\", moderate: "
        "\"probably lowers\", low: \"may lower\", very low: \"very uncertain\")"
        + _cite(["Santesso et al. 2020"], cited) + ".",
    ]
    overrides = cfg.get("overrides") or {}
    for aid, domains in sorted(overrides.items()):
        for domain, spec in sorted(domains.items()):
            out.append(f"Override, {aid}, {domain.replace('_', ' ')}: rated down "
                       f"{spec.get('downgrade')} level(s) by the analyst: {spec.get('reason')}.")
    return out


_CONTROL_TEXT = {
    "exact": "iterative estimates (ML, REML, EB and Paule–Mandel τ², the Q-profile bounds) "
    "are computed to the exact optimum or root (the estimating equations and the Q-profile "
    "equations solved to machine precision)",
    "metafor": "iterative estimates stop where metafor's default settings stop them (Fisher "
    "scoring at an absolute change of 10⁻⁵, root searches at a tolerance of about 1.2·10⁻⁴), "
    "reproducing metafor's output digit for digit; these can differ from the exact optimum "
    "in the fourth to sixth significant digit",
}


def _control_sentence(controls: Sequence[str]) -> str:
    """Which stopping rules the iterative estimators used."""
    parts = [_CONTROL_TEXT.get(c, c) for c in controls]
    text = parts[0] if len(parts) == 1 else "depending on the analysis, " + "; or ".join(parts)
    return text[0].upper() + text[1:] + "."


def methods_section(config: Mapping, summaries: Sequence[Mapping]) -> dict:
    """Methods paragraphs, a settings table and references for the analyses on a page.

    Parameters
    ----------
    config : mapping
        The validated configuration.
    summaries : sequence of mappings
        The ``summary.json`` contents of the page's analyses, in config order.

    Returns
    -------
    dict
        ``paragraphs`` (list of str), ``settings`` (one record per analysis: id, measure,
        estimator, test, level, pi, vtype, zero-cell rule, multi-arm rule) and
        ``references`` (list of str, alphabetical, only those cited).
    """
    ids = [s["analysis"] for s in summaries]
    eff = {aid: effective_config(aid, config) for aid in ids}
    cited: list[str] = []
    paragraphs: list[str] = []
    profile = str(config.get("profile", "cochrane"))

    paragraphs.append(
        f"All analyses start from the “{profile}” methods profile, which follows "
        f"{_PROFILES.get(profile, 'the settings listed below')}; settings an analysis "
        "overrides are listed in the table below. Effects are treatment minus control "
        "(ratios: treatment over control), computed and pooled as the R package metafor "
        "does" + _cite(["Viechtbauer 2010"], cited) + ".")

    measures = []
    for aid in ids:
        measure = eff[aid]["measure"]
        if measure not in measures:
            measures.append(measure)
    effect_sentences = []
    for measure in measures:
        text, refs = _MEASURE_FORMULAS.get(measure, (f"Effects are {measure}", []))
        if measure == "SMD":
            vtypes = sorted({eff[a]["escalc"].get("vtype", "LS") for a in ids
                             if eff[a]["measure"] == "SMD"})
            parts = []
            for vt in vtypes:
                vt_text, vt_refs = _SMD_VTYPES.get(vt, (f"with the {vt} variance", []))
                parts.append(vt_text + _cite(vt_refs, cited))
            text = text + _cite(refs, cited) + ", " + _join(parts)
        else:
            text = text + _cite(refs, cited)
        effect_sentences.append(text + ".")
    effect_sentences.append(
        "Where a trial reports only an effect and its CI, the standard error is taken as the "
        "CI's width divided by 2·z at the CI's level; reported ratios and their limits are "
        "log-transformed and Cohen's d is converted to Hedges' g with the same correction J.")
    paragraphs.append(" ".join(effect_sentences))

    binary = [a for a in ids if eff[a]["measure"] in ("RR", "OR", "RD")]
    if binary:
        rules = sorted({(eff[a]["escalc"].get("add", 0.5), eff[a]["escalc"].get("to", "only0"),
                         bool(eff[a]["escalc"].get("drop00", False))) for a in binary})
        texts = []
        for add, to, drop00 in rules:
            texts.append(
                f"{add:g} is added {_ZERO_RULES.get(to, to)}; trials with no events in either "
                "arm are " + ("excluded" if drop00 else "kept (they contribute to the risk "
                              "difference and, after the correction, to ratios)"))
        paragraphs.append("Zero cells: " + "; ".join(texts) + ".")

    multi = sorted({eff[a].get("multiarm", "combine") for a in ids})
    multi_text = {
        "combine": "the treatment arms are combined into one arm (pooled n, mean and SD, or "
                   "summed events) before the effect is computed, so the shared control arm "
                   "is counted once (Higgins et al. 2023, section 6.5.2.10)",
        "split": "the shared control arm's participants (and events) are divided evenly among "
                 "the comparisons, so no participant is counted twice ("
                 "Higgins et al. 2023, section 23.3.4)",
    }
    if "Higgins et al. 2023" not in cited:
        cited.append("Higgins et al. 2023")
    paragraphs.append(
        "Trials with several ketamine arms sharing one control arm (rows with the same group "
        "label): " + "; ".join(multi_text.get(m, m) for m in multi) + ". Reported effects "
        "that share a control arm cannot be combined: the first listed is kept and the "
        "others dropped with a warning on the page.")
    excluding = [a for a in ids if eff[a].get("exclude")]
    if excluding:
        paragraphs.append(
            "Study selection: each analysis pools the trials whose condition, outcome and "
            "time point match its own. The configuration leaves out "
            + _join([
                f"{len(eff[a]['exclude'])} trial{'s' if len(eff[a]['exclude']) > 1 else ''} "
                f"of {a}" for a in excluding])
            + " on purpose, each with its reason, listed under the analysis ('Trials "
            "matching this question but not pooled').")

    methods = sorted({eff[a]["method"] for a in ids})
    tests = sorted({eff[a]["test"] for a in ids})
    est_texts = []
    for m in methods:
        text, refs = _ESTIMATORS.get(m, (m, []))
        est_texts.append(text + _cite(refs, cited))
    test_texts = []
    for t in tests:
        text, refs = _TESTS.get(t, (t, []))
        test_texts.append(text + _cite(refs, cited))
    levels = sorted({float(eff[a]["level"]) for a in ids})
    level_text = _join([f"{lv:g}%" for lv in levels])
    paragraphs.append(
        "Effects are pooled with inverse-variance weights in a random-effects model; the "
        f"between-trial variance τ² is estimated by {_join(est_texts)} and truncated at zero. "
        f"Confidence intervals ({level_text}) and the test of the pooled effect use "
        f"{_join(test_texts)}. I² and H² are computed from τ² and the typical within-trial "
        "variance" + _cite(["Higgins & Thompson 2002"], cited) + "; confidence intervals for "
        "τ² and I² use the Q-profile method" + _cite(["Viechtbauer 2007"], cited) + ". "
        "Cochran's Q is reported with its χ² test on k − 1 degrees of freedom. "
        + _control_sentence(sorted({eff[a].get("control", "exact") for a in ids})))

    pis = sorted({eff[a].get("pi", "default") for a in ids})
    pi_texts = []
    for p in pis:
        if p == "higgins":
            pi_texts.append("the formula of Higgins, Thompson and Spiegelhalter, μ̂ ± "
                            "t(k − 2)·√(τ̂² + SE(μ̂)²)" + _cite(["Higgins et al. 2009"], cited))
        else:
            pi_texts.append("μ̂ ± q·√(τ̂² + SE(μ̂)²) as metafor's predict() computes it, with q "
                            "the standard normal quantile under z tests and the t quantile "
                            "with k − 1 degrees of freedom otherwise")
    paragraphs.append(
        "Prediction intervals, the range in which the effect of a new trial like these is "
        f"expected to lie, use {_join(pi_texts)}. They are shown for every pooled analysis, "
        "also when k is small, where they are wide and imprecise.")

    few = few_trial_settings(config)
    paragraphs.append(
        "Small-study effects are examined only where an analysis has at least "
        f"{few['small_study_min_k']} trials: contour-enhanced funnel plots"
        + _cite(["Peters et al. 2008"], cited) + ", Egger's regression test (weighted "
        "regression of the effect on its standard error, metafor's regtest(model = \"lm\"))"
        + _cite(["Egger et al. 1997"], cited) + ", Begg's rank correlation test"
        + _cite(["Begg & Mazumdar 1994"], cited) + " and trim-and-fill with the L0 estimator, "
        "the side of the missing trials chosen as metafor does"
        + _cite(["Duval & Tweedie 2000"], cited) + "; the filled data are refitted with the "
        "analysis's own estimator and test (metafor's trimfill() refits with a z test, so "
        "its CI of the adjusted estimate differs under Hartung–Knapp; the adjusted estimate "
        "itself is the same). With fewer trials these tests cannot tell asymmetry from chance "
        "and the page says \"not assessed\" instead (Higgins et al. 2023, chapter 13; "
        "Sterne et al. 2011).")
    for key in ("Higgins et al. 2023", "Sterne et al. 2011"):
        if key not in cited:
            cited.append(key)
    paragraphs.append(
        "Sensitivity: each trial is left out in turn (leave-one-out); from "
        f"{few['small_study_min_k']} trials on, influential trials are "
        "flagged by metafor's influence() criteria (studentised residuals, DFFITS, Cook's "
        "distance, covariance ratio, leave-one-out τ² and Q, hat values)"
        + _cite(["Viechtbauer & Cheung 2010"], cited) + "; and the equal-effects "
        "(inverse-variance) estimate is shown beside the random-effects one.")
    paragraphs.append(
        "Few trials: an analysis of a single trial shows that trial's own result and is "
        "marked \"not pooled\". No prediction interval is shown below 3 trials: with k = 2 "
        "the t quantile on one degree of freedom (12.7 for 95%) makes it uninformative "
        "(Higgins et al. 2009). With 2 to "
        f"{few['bayes_max_k']} trials, analyses of standardised mean differences and of "
        "log ratios take as their headline a Bayesian random-effects model with a "
        f"half-normal prior of scale {few['tau_prior_scale']:g} on τ and a uniform prior "
        "on the effect (R's bayesmeta), reported as posterior median with its equal-tailed "
        "credible interval, the probability of benefit and the predictive interval for a "
        "new trial; the REML + Hartung–Knapp and equal-effects results are shown beside it"
        + _cite(["Friede et al. 2017", "Röver et al. 2021"], cited) + ". Mean differences "
        "in points keep the frequentist headline: a prior scale for τ depends on the "
        "scale's units.")
    if "Higgins et al. 2009" not in cited:
        cited.append("Higgins et al. 2009")
    paragraphs.append(
        "Absolute effects: for dichotomous outcomes, the pooled ratio is applied to the median "
        "control-group risk of the pooled trials to give the risk difference per 1,000 "
        "patients and the number needed to treat for one more beneficial (NNTB) or harmful "
        "(NNTH) outcome; when the CI of the risk difference includes zero the NNT's CI passes "
        "through infinity" + _cite(["Altman 1998"], cited) + ". A pooled SMD is re-expressed "
        "in points of the most used scale by multiplying it by the median pooled within-trial "
        "SD of the trials that used that scale (Higgins et al. 2023, section 15.5.3.1).")

    paragraphs += _certainty_paragraphs(config, cited)
    paragraphs.append(
        "What is pooled together: under each result the page names whatever its trials "
        "differ in — crossover and parallel designs, change from baseline and final scores "
        "(from a score column where the data give one, else from the trial notes), active "
        "(e.g. midazolam) and inert controls, drugs, routes, the day of \"end of "
        "treatment\" and, for SMDs, the scales. Where crossover trials are pooled with "
        "parallel ones, the analysis is repeated without them: a crossover trial's variance "
        "depends on a within-patient correlation that publications rarely report"
        + _cite(["Elbourne et al. 2002"], cited) + ".")
    if any(s.get("proportions") for s in summaries):
        paragraphs.append(
            "Response and remission rates: for dichotomous outcomes, the proportion of "
            "patients with the event is pooled separately in the treatment arms and in the "
            "control arms, as logits (1/2 added to both cells of an arm with 0 or all "
            "events) in a random-effects model with the analysis's estimator and test, and "
            "back-transformed" + _cite(["Stijnen et al. 2010", "Schwarzer et al. 2019"],
                                       cited) + ". The two proportions pool arms across "
            "trials and are not a randomised comparison; the relative effect beside them is.")
    if any(s.get("subgroups") or s.get("ketamine_vs_esketamine") for s in summaries):
        paragraphs.append(
            "Subgroups: each analysis is split by route, drug, kind of control (active, "
            "e.g. midazolam, or inert) and design where its trials fall into at least two "
            "subgroups; each subgroup is pooled with the analysis's own estimator, test and "
            "its own τ², and the subgroups are compared with the test for subgroup "
            "differences, Cochran's Q between the subgroup estimates (Higgins et al. 2023, "
            "section 10.11.3.1). A subgroup of one trial is that trial's result. Where "
            "intravenous racemic ketamine and intranasal esketamine trials are pooled "
            "together, the two are also compared on their own; like every subgroup "
            "comparison this compares trials, not randomised groups (section 10.11.2).")
    if any(s.get("time_course") for s in summaries):
        paragraphs.append(
            "Time course: for each outcome, the analyses of its main effect measure are "
            "placed on a log-day axis by their time point (days since the first dose; "
            "\"end of treatment\" at the day its trials report, and not placed where they "
            "report none). A time point has a clear effect when its confidence interval "
            "excludes no effect; the page names the earliest and the last such time point. "
            "One multilevel model then uses every placed trial result at once: random "
            "effects for trials and for time points within trials, the effect linear in "
            "log10 days, REML" + _cite(["Konstantopoulos 2011"], cited) + ", with "
            "cluster-robust (CR2) standard errors and Satterthwaite degrees of freedom, "
            "trials as clusters, because a trial's results at several times share its "
            "patients" + _cite(["Pustejovsky & Tipton 2018"], cited) + "; it is fitted "
            "from 3 trials and two time points with at least two trials each.")
    if any(s.get("generated") or (s.get("provenance") or {}).get("config", {}).get(
            "generated") for s in summaries):
        paragraphs.append(
            "Every condition, outcome and time point in the data is analysed: combinations "
            "that the configuration does not name get an analysis of their own, with the "
            "measure the rows' data give (SMD for continuous, risk ratio for dichotomous "
            "outcomes, a reported effect's own measure); their settings follow the profile.")

    notes = [(s["analysis"], w) for s in summaries for w in s.get("warnings") or []
             if is_engine_note(w)]
    if notes:
        paragraphs.append(
            "Notes from the estimation: " + "; ".join(f"{aid}: {w.rstrip('.')}"
                                                      for aid, w in notes) + ".")

    settings = []
    for aid in ids:
        e = eff[aid]
        zero = (f"add {e['escalc'].get('add', 0.5):g} ({e['escalc'].get('to', 'only0')}), "
                f"drop00 {'yes' if e['escalc'].get('drop00') else 'no'}"
                if e["measure"] in ("RR", "OR", "RD", "PLO", "PFT", "PR") else "")
        settings.append({
            "analysis": aid, "measure": e["measure"], "method": e["method"], "test": e["test"],
            "level": f"{float(e['level']):g}%", "pi": e.get("pi", "default"),
            "vtype": e["escalc"].get("vtype", "LS") if e["measure"] == "SMD" else "",
            "zero": zero, "multiarm": e.get("multiarm", "combine"),
            "sort_by": e.get("sort_by", "year"),
        })
    return {
        "paragraphs": paragraphs,
        "settings": {
            "id": "settings", "caption": "Settings of each analysis (effective configuration)",
            "columns": [{"key": "analysis", "header": "Analysis", "kind": "text"},
                        {"key": "measure", "header": "Measure", "kind": "text"},
                        {"key": "method", "header": "τ² estimator", "kind": "text"},
                        {"key": "test", "header": "Test / CI", "kind": "text"},
                        {"key": "level", "header": "Level", "kind": "text"},
                        {"key": "pi", "header": "Prediction interval", "kind": "text"},
                        {"key": "vtype", "header": "SMD variance", "kind": "text"},
                        {"key": "zero", "header": "Zero cells", "kind": "text"},
                        {"key": "multiarm", "header": "Multi-arm", "kind": "text"},
                        {"key": "sort_by", "header": "Sorted by", "kind": "text"}],
            "records": settings},
        "references": [REFERENCES[key] for key in sorted(cited, key=str.lower)],
    }
