# Reference values for ketameta.escalc and the conversion helpers, from metafor's escalc().
#
# Run from the repository root:
#     Rscript tests/reference/escalc_cases.R
# It writes tests/reference/escalc.json (17 significant digits), which tests/test_escalc.py and
# tests/test_conversions.py read; R is not needed to run those tests.
#
# Every case stores its input in ketameta's column names (section 1 of docs/contract.md), the options
# ketameta.escalc is called with, and the exact R code that produced yi and vi (evaluated with
# the input as the data frame `input`). Most cases are a single metafor::escalc() call; a few
# (RevMan variance, reported effects with a CI, reported Cohen's d) evaluate the stated formula
# in R on top of metafor's output, because metafor 3.8 has no such option: the `reference`
# field says which.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

cases <- list()

# Evaluate `call` with `input` in scope and store the result as one case.
add_case <- function(id, measure, input, call, options = list(), reference = "metafor::escalc") {
  stopifnot(!id %in% names(cases))
  env <- new.env(parent = globalenv())
  env$input <- input
  res <- suppressWarnings(eval(parse(text = call), envir = env))
  opts <- list(vtype = "LS", add = NULL, to = "only0", drop00 = FALSE)
  opts[names(options)] <- options
  if (is.null(opts$add)) opts["add"] <- list(NULL)
  cases[[id]] <<- list(
    measure = measure,
    options = opts,
    reference = reference,
    call = call,
    input = as.list(input),
    yi = as.numeric(res$yi),
    vi = as.numeric(res$vi)
  )
}

# Column mappings from ketameta's names to escalc's arguments.
CONT <- "m1i=mean_treat, sd1i=sd_treat, n1i=n_treat, m2i=mean_ctrl, sd2i=sd_ctrl, n2i=n_ctrl, data=input"
TAB <- "ai=events_treat, n1i=n_treat, ci=events_ctrl, n2i=n_ctrl, data=input"
ONE <- "xi=events_treat, ni=n_treat, data=input"

# ---------------------------------------------------------------------------------------
# Continuous arms: dat.normand1999 (metadat) and a tiny-n grid
# ---------------------------------------------------------------------------------------

normand <- with(dat.normand1999, data.frame(
  n_treat = n1i, mean_treat = m1i, sd_treat = sd1i,
  n_ctrl = n2i, mean_ctrl = m2i, sd_ctrl = sd2i
))

# Tiny n: n = 2 per arm, one SD of 0, N = 3 (J undefined -> NA), both SDs 0 (d infinite -> NA).
tiny <- data.frame(
  n_treat    = c(2, 2, 3, 2, 1, 40, 2),
  mean_treat = c(10, 12.5, 3, 7, 5, 21.3, 4),
  sd_treat   = c(2, 1.5, 0, 4, 1, 6.2, 0),
  n_ctrl     = c(2, 3, 2, 2, 2, 35, 2),
  mean_ctrl  = c(8, 9, 1, 7.5, 4, 18.9, 3),
  sd_ctrl    = c(3, 2.5, 1, 0.5, 2, 5.8, 0)
)

for (nm in c("normand1999", "tiny")) {
  input <- if (nm == "normand1999") normand else tiny
  for (vt in c("LS", "LS2", "UB")) {
    add_case(paste0("smd_", nm, "_", vt), "SMD", input,
             sprintf('escalc("SMD", %s, vtype="%s")', CONT, vt), list(vtype = vt))
  }
  add_case(paste0("smd_", nm, "_RevMan"), "SMD", input,
           sprintf(paste0('res <- escalc("SMD", %s)\n',
                          'res$vi <- 1/input$n_treat + 1/input$n_ctrl + res$yi^2 / (2*(input$n_treat + input$n_ctrl - 3.94))\n',
                          'res'), CONT),
           list(vtype = "RevMan"),
           reference = "metafor::escalc yi; vi by the RevMan 5 formula (Deeks & Higgins 2010) evaluated in R")
  for (vt in c("LS", "UB", "HO")) {
    add_case(paste0("md_", nm, "_", vt), "MD", input,
             sprintf('escalc("MD", %s, vtype="%s")', CONT, vt), list(vtype = vt))
  }
}

# ---------------------------------------------------------------------------------------
# Dichotomous arms: dat.bcg (metadat) and a zero-cell grid
# ---------------------------------------------------------------------------------------

bcg <- with(dat.bcg, data.frame(
  events_treat = tpos, n_treat = tpos + tneg,
  events_ctrl = cpos, n_ctrl = cpos + cneg
))

for (ms in c("RR", "OR", "RD")) {
  add_case(paste0(tolower(ms), "_bcg"), ms, bcg, sprintf('escalc("%s", %s)', ms, TAB))
  # bcg has no zero cell, so if0all adds nothing here
  add_case(paste0(tolower(ms), "_bcg_if0all"), ms, bcg,
           sprintf('escalc("%s", %s, to="if0all")', ms, TAB), list(to = "if0all"))
}
add_case("rd_bcg_UB", "RD", bcg, sprintf('escalc("RD", %s, vtype="UB")', TAB), list(vtype = "UB"))

zeros <- data.frame(
  events_treat = c(0, 3, 0, 10, 10, 4, 0, 2, 0),
  n_treat      = c(20, 20, 15, 10, 10, 25, 2, 2, 30),
  events_ctrl  = c(5, 0, 0, 10, 5, 7, 1, 0, 0),
  n_ctrl       = c(20, 18, 15, 10, 12, 25, 2, 2, 12)
)
# rows: zero events treat; zero events ctrl; double zero; all events in both arms; all events in
# one arm; no zero cell; n = 2 with a zero; n = 2 with all events and zero events; double zero
# with unequal n

for (ms in c("RR", "OR", "RD")) {
  for (to in c("only0", "all", "if0all", "none")) {
    for (d00 in c(FALSE, TRUE)) {
      add_case(sprintf("%s_zeros_%s%s", tolower(ms), to, if (d00) "_drop00" else ""), ms, zeros,
               sprintf('escalc("%s", %s, to="%s", drop00=%s)', ms, TAB, to, d00),
               list(to = to, drop00 = d00))
    }
  }
  for (a in c(1, 0.1)) {
    add_case(sprintf("%s_zeros_add%s", tolower(ms), a), ms, zeros,
             sprintf('escalc("%s", %s, add=%s)', ms, TAB, a), list(add = a))
  }
}
add_case("rd_zeros_UB", "RD", zeros, sprintf('escalc("RD", %s, vtype="UB")', TAB),
         list(vtype = "UB"))

# ---------------------------------------------------------------------------------------
# Single arms: dat.pritz1997 (metadat; has arms with only events) and an edge grid
# ---------------------------------------------------------------------------------------

pritz <- with(dat.pritz1997, data.frame(events_treat = xi, n_treat = ni))
single <- data.frame(
  events_treat = c(0, 10, 1, 0, 2, 5, 0, 1, 37),
  n_treat      = c(10, 10, 2, 2, 2, 17, 1, 1, 120)
)

for (nm in c("pritz1997", "single")) {
  input <- if (nm == "pritz1997") pritz else single
  for (ms in c("PLO", "PR", "PFT")) {
    for (to in c("only0", "all", "if0all", "none")) {
      add_case(sprintf("%s_%s_%s", tolower(ms), nm, to), ms, input,
               sprintf('escalc("%s", %s, to="%s")', ms, ONE, to), list(to = to))
    }
  }
  add_case(sprintf("pr_%s_UB", nm), "PR", input, sprintf('escalc("PR", %s, vtype="UB")', ONE),
           list(vtype = "UB"))
  # PFT adds nothing by default (add=0); an explicit add is applied as for the other measures
  for (to in c("only0", "all")) {
    add_case(sprintf("pft_%s_add0.5_%s", nm, to), "PFT", input,
             sprintf('escalc("PFT", %s, add=1/2, to="%s")', ONE, to), list(add = 0.5, to = to))
  }
}

# ---------------------------------------------------------------------------------------
# Reported effects (measure GEN, and reported rows mixed with arm rows)
# ---------------------------------------------------------------------------------------

na_col <- function(k) rep(NA_real_, k)

gen_vi <- data.frame(effect_type = "MD", yi = c(-3.2, 1.5, -0.4), vi = c(1.21, 0.64, 2.5))
add_case("gen_md_vi", "GEN", gen_vi, 'escalc(measure="GEN", yi=yi, vi=vi, data=input)')

gen_sei <- data.frame(effect_type = "logOR", yi = c(-0.51, 0.12, -1.3, 0), sei = c(0.33, 0.41, 0.8, 0.25))
add_case("gen_logor_sei", "GEN", gen_sei, 'escalc(measure="GEN", yi=yi, sei=sei, data=input)')

# Ratios on the natural scale with CIs at different levels (NA -> 95).
gen_rr_ci <- data.frame(
  effect_type = "RR", yi = c(0.62, 1.40, 0.95, 2.10),
  ci_low = c(0.41, 0.88, 0.70, 1.05), ci_high = c(0.94, 2.23, 1.29, 4.20),
  ci_level = c(95, 90, NA, 99)
)
CI_CALL <- paste0(
  'lev <- ifelse(is.na(input$ci_level), 95, input$ci_level)\n',
  'sei <- (%s(input$ci_high) - %s(input$ci_low)) / (2*qnorm((1 + lev/100)/2))\n',
  'escalc(measure="GEN", yi=%s(input$yi), sei=sei)'
)
CI_REF <- "SE = (upper - lower)/(2*qnorm((1+level/100)/2)) on the analysis scale, evaluated in R; then metafor::escalc(measure=\"GEN\", yi, sei)"
add_case("gen_rr_ci", "GEN", gen_rr_ci, sprintf(CI_CALL, "log", "log", "log"), reference = CI_REF)

gen_hr_ci <- data.frame(
  effect_type = "HR", yi = c(0.71, 0.55, 1.08),
  ci_low = c(0.52, 0.31, 0.77), ci_high = c(0.97, 0.98, 1.51), ci_level = na_col(3)
)
add_case("gen_hr_ci", "GEN", gen_hr_ci, sprintf(CI_CALL, "log", "log", "log"), reference = CI_REF)

gen_loghr_ci <- data.frame(
  effect_type = "logHR", yi = log(c(0.71, 0.55, 1.08)),
  ci_low = log(c(0.52, 0.31, 0.77)), ci_high = log(c(0.97, 0.98, 1.51)), ci_level = c(95, 95, 90)
)
add_case("gen_loghr_ci", "GEN", gen_loghr_ci, sprintf(CI_CALL, "", "", ""), reference = CI_REF)

gen_smd_ci <- data.frame(
  effect_type = "SMD", yi = c(-0.45, -0.80, 0.10),
  ci_low = c(-0.92, -1.41, -0.35), ci_high = c(0.02, -0.19, 0.55), ci_level = c(95, 95, 80)
)
add_case("gen_smd_ci", "GEN", gen_smd_ci, sprintf(CI_CALL, "", "", ""), reference = CI_REF)

gen_rd_ci <- data.frame(
  effect_type = "RD", yi = c(0.12, -0.05),
  ci_low = c(0.01, -0.20), ci_high = c(0.23, 0.10), ci_level = na_col(2)
)
add_case("gen_rd_ci", "GEN", gen_rd_ci, sprintf(CI_CALL, "", "", ""), reference = CI_REF)

# One row each with vi, sei, and a CI (vi is used when present, then sei, then the CI).
gen_rr_mixed <- data.frame(
  effect_type = c("RR", "logRR", "RR", "logRR"),
  yi = c(0.80, log(1.25), 0.66, log(0.9)),
  vi = c(0.04, NA, NA, NA), sei = c(NA, 0.15, NA, NA),
  ci_low = c(NA, NA, 0.45, log(0.7)), ci_high = c(NA, NA, 0.97, log(1.157)),
  ci_level = c(NA, NA, 95, 95)
)
add_case("gen_rr_mixed", "GEN", gen_rr_mixed, paste0(
  'lnyi <- ifelse(input$effect_type == "RR", log(input$yi), input$yi)\n',
  'lnlo <- ifelse(input$effect_type == "RR", log(input$ci_low), input$ci_low)\n',
  'lnhi <- ifelse(input$effect_type == "RR", log(input$ci_high), input$ci_high)\n',
  'sei <- (lnhi - lnlo) / (2*qnorm((1 + input$ci_level/100)/2))\n',
  'vi <- ifelse(!is.na(input$vi), input$vi, ifelse(!is.na(input$sei), input$sei^2, sei^2))\n',
  'escalc(measure="GEN", yi=lnyi, vi=vi)'),
  reference = paste(CI_REF, "(rows with vi or sei use those)"))

# Cohen's d with its SE: g = J d (metafor's SMD with di=), var(g) = J^2 var(d) (Borenstein 2009, 4.24).
gen_d <- data.frame(
  effect_type = "d", yi = c(0.50, -0.90, 1.20, 0.30),
  sei = c(0.45, 0.38, 0.70, 0.12), n_treat = c(10, 15, 4, 150), n_ctrl = c(10, 14, 5, 148)
)
add_case("gen_d_sei", "GEN", gen_d, paste0(
  'res <- escalc("SMD", di=yi, n1i=n_treat, n2i=n_ctrl, data=input)\n',
  'res$vi <- metafor:::.cmicalc(input$n_treat + input$n_ctrl - 2)^2 * input$sei^2\n',
  'res'),
  reference = "metafor::escalc(\"SMD\", di=) yi (J from metafor's .cmicalc); vi = J^2 * sei^2 evaluated in R")

# SMD from arms and reported g/d in one frame (ketameta pools reported rows on the measure's scale).
smd_mixed <- data.frame(
  n_treat = c(31, 18, 10, 12), mean_treat = c(27, 66, NA, NA), sd_treat = c(7, 20, NA, NA),
  n_ctrl = c(32, 18, 11, 12), mean_ctrl = c(29, 137, NA, NA), sd_ctrl = c(4, 48, NA, NA),
  effect_type = c(NA, NA, "SMD", "d"), yi = c(NA, NA, -0.62, 0.41), sei = c(NA, NA, 0.44, 0.41)
)
add_case("smd_mixed_arms_reported", "SMD", smd_mixed, paste0(
  'arm <- is.na(input$effect_type)\n',
  'yi <- vi <- rep(NA_real_, nrow(input))\n',
  sprintf('a <- escalc("SMD", %s, subset=arm)\n', CONT),
  'yi[arm] <- a$yi; vi[arm] <- a$vi\n',
  'g <- input$effect_type == "SMD" & !arm\n',
  'yi[g] <- input$yi[g]; vi[g] <- input$sei[g]^2\n',
  'd <- input$effect_type == "d" & !arm\n',
  'b <- escalc("SMD", di=yi, n1i=n_treat, n2i=n_ctrl, data=input, subset=d)\n',
  'yi[d] <- b$yi; vi[d] <- metafor:::.cmicalc(input$n_treat[d] + input$n_ctrl[d] - 2)^2 * input$sei[d]^2\n',
  'list(yi=yi, vi=vi)'),
  reference = "metafor::escalc(\"SMD\") for arm rows; reported g as given; d as in gen_d_sei")

# ---------------------------------------------------------------------------------------
# Conversions
# ---------------------------------------------------------------------------------------

conv <- list()

m <- c(2:30, 35, 50, 75, 100, 200, 343, 344, 345, 1000, 1e5)
conv$hedges_j <- list(
  call = "metafor:::.cmicalc(df)", df = m, j = metafor:::.cmicalc(m))

d_in <- data.frame(d = c(0.5, -0.9, 1.2, 0.3, 2.5), n_treat = c(10, 15, 4, 150, 2),
                   n_ctrl = c(10, 14, 5, 148, 3))
d_out <- escalc("SMD", di = d, n1i = n_treat, n2i = n_ctrl, data = d_in)
conv$d_to_g <- list(
  call = 'escalc("SMD", di=d, n1i=n_treat, n2i=n_ctrl)  # variance: metafor vtype="LS" for g',
  input = as.list(d_in), g = as.numeric(d_out$yi), vi = as.numeric(d_out$vi))

or_bcg <- escalc("OR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
or2d_bcg <- escalc("OR2DL", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
conv$logor_to_smd <- list(
  call = 'escalc("OR", ...) as input; escalc("OR2DL", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg) as output',
  logor = as.numeric(or_bcg$yi), vi = as.numeric(or_bcg$vi),
  d = as.numeric(or2d_bcg$yi), vi_d = as.numeric(or2d_bcg$vi))

ci_lo <- c(-0.92, 0.41, 1.2, -3.1)
ci_hi <- c(0.02, 0.94, 2.9, 0.4)
lev <- c(95, 90, 99, 80)
conv$se_from_ci <- list(
  call = "(ci_high - ci_low) / (2 * qnorm((1 + level/100)/2))",
  ci_low = ci_lo, ci_high = ci_hi, level = lev,
  se = (ci_hi - ci_lo) / (2 * qnorm((1 + lev / 100) / 2)))

est <- c(-0.47, 1.3, 0.05, -2.2)
pv <- c(0.049, 0.0012, 0.81, 0.3)
dfs <- c(18, 40, 7, 120)
conv$se_from_p <- list(
  call = "abs(estimate) / qnorm(p/2, lower.tail=FALSE); t: abs(estimate) / qt(p/2, df, lower.tail=FALSE)",
  estimate = est, p_value = pv, df = dfs,
  se_z = abs(est) / qnorm(pv / 2, lower.tail = FALSE),
  se_t = abs(est) / qt(pv / 2, dfs, lower.tail = FALSE))

out <- list(
  generated_by = "tests/reference/escalc_cases.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  cases = cases,
  conversions = conv
)

# jsonlite (1.8) writes at most 15 significant digits, so numeric vectors are formatted here
# with 17 (enough to round-trip every double) and passed through verbatim; NA becomes null.
num17 <- function(x) {
  structure(paste0("[", paste(ifelse(is.na(x), "null", sprintf("%.17g", x)), collapse = ", "), "]"),
            class = "json")
}
as17 <- function(x, name = "") {
  if (name == "options") return(x)  # scalars (add = 0.5, 1, 0.1) are exact in 15 digits
  if (is.list(x)) return(mapply(as17, x, names(x) %||% rep("", length(x)), SIMPLIFY = FALSE))
  if (is.numeric(x)) return(num17(x))
  x
}
`%||%` <- function(a, b) if (is.null(a)) b else a

path <- file.path("tests", "reference", "escalc.json")
writeLines(toJSON(as17(out), na = "null", null = "null", auto_unbox = TRUE, pretty = TRUE,
                  json_verbatim = TRUE), path)
cat("wrote", length(cases), "escalc cases and", length(conv), "conversion references to", path, "\n")
