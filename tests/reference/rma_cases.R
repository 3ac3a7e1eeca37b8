# Regenerates tests/reference/rma.json: metafor results for ketameta.rma().
#
#   Rscript tests/reference/rma_cases.R            (from the repository root)
#   Rscript tests/reference/rma_cases.R --tight    (writes rma_exact.json)
#
# With --tight every fit uses metafor's tight settings, so that the numbers are the exact
# optima (ketameta's default): rma(..., control = list(threshold = 1e-12, tol = 1e-12,
# maxiter = 10000)) and confint(..., control = list(tol = 1e-12)); the sections about
# metafor's default stopping (fallback, stuck, pm_wide) are left out. Without it, metafor's
# defaults (ketameta's control = "metafor").
#
# For every case (public data sets shipped with metafor/metadat plus synthetic edge cases)
# and every method x test combination, it records rma(), predict() (default and
# pi.type = "riley", i.e. Higgins' t(k-2) interval), confint() (Q-profile CI of tau^2, I^2,
# H^2) and weights(). Inputs (yi, vi) are stored too, so the Python tests need no escalc.
# Numbers are written with 17 significant digits; R and metafor versions are recorded.

suppressPackageStartupMessages(library(metafor))

tight <- "--tight" %in% commandArgs(trailingOnly = TRUE)
ctl <- if (tight) list(threshold = 1e-12, tol = 1e-12, maxiter = 10000) else list()
cictl <- if (tight) list(tol = 1e-12) else list()
out_path <- if (tight) "tests/reference/rma_exact.json" else "tests/reference/rma.json"

methods <- c("EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
tests <- c("z", "knha", "adhoc", "t")

# ---- cases -----------------------------------------------------------------------------

cases <- list()
add_case <- function(name, yi, vi, source) {
  cases[[name]] <<- list(yi = as.numeric(yi), vi = as.numeric(vi), source = source)
}

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
add_case("bcg_logrr", bcg$yi, bcg$vi,
  'escalc("RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)')

nor <- escalc(measure = "SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
  n2i = n2i, data = dat.normand1999)
add_case("normand1999_smd", nor$yi, nor$vi,
  'escalc("SMD", m1i, sd1i, n1i, m2i, sd2i, n2i, data=dat.normand1999)')

add_case("hackshaw1998_logor", dat.hackshaw1998$yi, dat.hackshaw1998$vi,
  "dat.hackshaw1998$yi, dat.hackshaw1998$vi")

li <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.li2007)
li <- li[!is.na(li$yi), ]
add_case("li2007_logor_zero_cells", li$yi, li$vi,
  'escalc("OR", ai, n1i, ci, n2i, data=dat.li2007) (add=1/2 to="only0"; NA rows dropped)')

add_case("k2", c(0.2, 0.6), c(0.04, 0.09), "synthetic: k = 2")

add_case("k2_wide", c(-10, 10), c(0.01, 0.01),
  "synthetic: k = 2, huge heterogeneity (Q-profile upper bound beyond tau2.max)")

add_case("homogeneous", c(0.30, 0.32, 0.28, 0.31, 0.29, 0.305),
  c(0.02, 0.03, 0.025, 0.04, 0.018, 0.05), "synthetic: Q < k - 1, tau^2 = 0")

add_case("identical_effects", rep(0.25, 5), c(0.01, 0.04, 0.02, 0.09, 0.05),
  "synthetic: all yi equal")

add_case("extreme_weights", c(0.10, 0.50, -0.30, 0.80, 0.20, 1.10),
  c(1e-5, 0.1, 0.5, 1, 0.3, 0.8), "synthetic: max(vi)/min(vi) = 1e5")

add_case("outlier", c(0.10, 0.15, 0.05, 0.12, 0.08, 0.11, 0.09, 3.5),
  c(0.010, 0.020, 0.015, 0.012, 0.018, 0.020, 0.011, 0.015), "synthetic: one extreme outlier")

set.seed(20240517)
big_vi <- rchisq(150, df = 4) / 40 + 0.005
big_yi <- rnorm(150, mean = 0.3, sd = sqrt(0.05 + big_vi))
add_case("large_k150", big_yi, big_vi,
  "synthetic: set.seed(20240517); vi = rchisq(150, 4)/40 + 0.005; yi ~ N(0.3, 0.05 + vi)")

# ---- fitting ---------------------------------------------------------------------------

na_if_null <- function(x) if (is.null(x) || length(x) == 0) NA_real_ else as.numeric(x)

fit_one <- function(yi, vi, method, test, level = 95) {
  msgs <- character(0)
  res <- withCallingHandlers(
    tryCatch({
      r <- rma(yi, vi, method = method, test = test, level = level, control = ctl)
      p <- predict(r)
      out <- list(
        estimate = c(r$b), se = r$se, ci_low = r$ci.lb, ci_high = r$ci.ub,
        statistic = r$zval, p_value = r$pval,
        df = if (test == "z") NA_real_ else na_if_null(r$ddf),
        tau2 = r$tau2, se_tau2 = na_if_null(r$se.tau2), I2 = r$I2, H2 = r$H2,
        Q = r$QE, Q_p = r$QEp,
        pi_low = na_if_null(p$pi.lb), pi_high = na_if_null(p$pi.ub),
        weights = as.numeric(weights(r))
      )
      if (length(yi) >= 3) {
        ph <- predict(r, pi.type = "riley")
        out$pi_higgins_low <- na_if_null(ph$pi.lb)
        out$pi_higgins_high <- na_if_null(ph$pi.ub)
      } else {
        out$pi_higgins_low <- NA_real_
        out$pi_higgins_high <- NA_real_
      }
      if (method != "EE") {
        ci <- confint(r, control = cictl)
        out$tau2_ci_low <- ci$random["tau^2", "ci.lb"]
        out$tau2_ci_high <- ci$random["tau^2", "ci.ub"]
        out$I2_ci_low <- ci$random["I^2(%)", "ci.lb"]
        out$I2_ci_high <- ci$random["I^2(%)", "ci.ub"]
        out$H2_ci_low <- ci$random["H^2", "ci.lb"]
        out$H2_ci_high <- ci$random["H^2", "ci.ub"]
        out$ci_null <- ci$ci.null
        out$lb_sign <- ci$lb.sign
        out$ub_sign <- ci$ub.sign
      }
      out
    }, error = function(e) list(error = conditionMessage(e))),
    warning = function(w) {
      msgs <<- c(msgs, conditionMessage(w))
      invokeRestart("muffleWarning")
    }
  )
  res$r_warnings <- msgs
  res
}

results <- list()
for (name in names(cases)) {
  cs <- cases[[name]]
  fits <- list()
  for (method in methods) for (test in tests) {
    fits[[paste(method, test, sep = "/")]] <- fit_one(cs$yi, cs$vi, method, test)
  }
  results[[name]] <- list(source = cs$source, yi = cs$yi, vi = cs$vi, fits = fits)
}

# level = 90 (a non-default confidence level) on two data sets
level90 <- list()
for (name in c("bcg_logrr", "normand1999_smd")) {
  for (method in c("DL", "REML", "PM")) for (test in c("z", "knha")) {
    level90[[paste(name, method, test, sep = "/")]] <- fit_one(cases[[name]]$yi,
      cases[[name]]$vi, method, test, level = 90)
  }
}

# k = 1: metafor switches to test = "z"; tau^2 and heterogeneity are not estimable.
k1 <- list()
for (test in tests) {
  r <- suppressWarnings(rma(0.4, 0.09, method = "REML", test = test, control = ctl))
  k1[[test]] <- list(estimate = c(r$b), se = r$se, ci_low = r$ci.lb, ci_high = r$ci.ub,
    statistic = r$zval, p_value = r$pval)
}

# ---- hard problems where metafor's defaults stop ---------------------------------------
# Rows (k = 20) on which the default Fisher scoring of ML/REML/EB fails to converge
# ("Fisher scoring algorithm did not converge") or where ML/REML's check resets tau^2 to 0
# ("may have gotten stuck at a local maximum"). For the failures the reference is
# metafor's own estimate with a damped, tightly converged iteration
# (control = list(stepadj = 0.5, threshold = 1e-13, maxiter = 1e5)), i.e. the exact root.

fallback <- list()
stuck <- list()
want <- if (tight) c(REML = 0, ML = 0, EB = 0) else c(REML = 2, ML = 2, EB = 2)
set.seed(20240518)
for (draw in if (tight) integer(0) else 1:4000) {
  if (all(want == 0) && length(stuck) >= 1) break
  vi <- rchisq(20, df = 4) / 40 + 0.005
  yi <- rnorm(20, mean = 0.3, sd = sqrt(0.05 + vi))
  for (method in names(want)) {
    msgs <- character(0)
    r <- withCallingHandlers(try(rma(yi, vi, method = method), silent = TRUE),
      warning = function(w) { msgs <<- c(msgs, conditionMessage(w)); invokeRestart("muffleWarning") })
    if (inherits(r, "try-error") && want[method] > 0) {
      want[method] <- want[method] - 1
      ref <- rma(yi, vi, method = method,
        control = list(stepadj = 0.5, threshold = 1e-13, maxiter = 1e5))
      fallback[[length(fallback) + 1]] <- list(draw = draw, method = method, yi = as.list(yi),
        vi = as.list(vi), default_error = attr(r, "condition")$message,
        tau2 = ref$tau2, estimate = c(ref$b), se = ref$se, I2 = ref$I2)
    }
    if (!inherits(r, "try-error") && any(grepl("local maximum", msgs)) && length(stuck) < 2) {
      stuck[[length(stuck) + 1]] <- list(draw = draw, method = method, yi = as.list(yi),
        vi = as.list(vi), tau2 = r$tau2, estimate = c(r$b), se = r$se, r_warnings = as.list(msgs))
    }
  }
}

# PM where Q(tau2.max) > k - 1 with metafor's default tau2.max = max(100, 10 mad(yi)^2):
# metafor stops ("Value of 'tau2.max' too low"); reference with a wider interval and a
# tight uniroot() tolerance.
pm_yi <- c(0, 0.01, -0.01, 0.02, -0.02, 0.005, 900, -900)
pm_vi <- c(0.01, 0.02, 0.015, 0.03, 0.02, 0.01, 0.05, 0.05)
pm_wide <- NULL
if (!tight) {
pm_default <- try(rma(pm_yi, pm_vi, method = "PM"), silent = TRUE)
pm_ref <- rma(pm_yi, pm_vi, method = "PM", control = list(tau2.max = 1e9, tol = 1e-15))
pm_wide <- list(yi = as.list(pm_yi), vi = as.list(pm_vi),
  default_error = if (inherits(pm_default, "try-error")) attr(pm_default, "condition")$message else NA,
  tau2 = pm_ref$tau2, estimate = c(pm_ref$b), se = pm_ref$se)
}

# ---- JSON with 17 significant digits ---------------------------------------------------

to_json <- function(x) {
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (!is.null(names(x))) {
      parts <- vapply(names(x), function(n) paste0(jsonlite::toJSON(n, auto_unbox = TRUE),
        ":", to_json(x[[n]])), "")
      return(paste0("{", paste(parts, collapse = ","), "}"))
    }
    return(paste0("[", paste(vapply(x, to_json, ""), collapse = ","), "]"))
  }
  if (is.character(x)) {
    s <- vapply(x, function(e) as.character(jsonlite::toJSON(e, auto_unbox = TRUE)), "")
    return(if (length(x) == 1) s else paste0("[", paste(s, collapse = ","), "]"))
  }
  if (is.logical(x) && length(x) == 1) return(if (is.na(x)) "null" else tolower(x))
  num <- vapply(as.numeric(x), function(e) {
    if (is.na(e)) "null" else if (is.infinite(e)) (if (e > 0) "\"Inf\"" else "\"-Inf\"")
    else sprintf("%.17g", e)
  }, "")
  if (length(x) == 1) return(num)
  paste0("[", paste(num, collapse = ","), "]")
}

out <- list(
  generated_by = "tests/reference/rma_cases.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  methods = methods, tests = tests,
  cases = results,
  k1 = list(yi = 0.4, vi = 0.09, method = "REML", fits = k1),
  level90 = level90, fallback = fallback, stuck = stuck, pm_wide = pm_wide,
  control = if (tight) list(threshold = 1e-12, tol = 1e-12, maxiter = 10000,
    confint_tol = 1e-12) else "metafor defaults"
)
# keep vectors of length 1 that are really vectors (yi/vi, weights) as arrays
for (name in names(out$cases)) {
  out$cases[[name]]$yi <- as.list(out$cases[[name]]$yi)
  out$cases[[name]]$vi <- as.list(out$cases[[name]]$vi)
  for (f in names(out$cases[[name]]$fits)) {
    w <- out$cases[[name]]$fits[[f]]$weights
    if (!is.null(w)) out$cases[[name]]$fits[[f]]$weights <- as.list(w)
    rw <- out$cases[[name]]$fits[[f]]$r_warnings
    out$cases[[name]]$fits[[f]]$r_warnings <- as.list(rw)
  }
}
for (f in names(out$level90)) {
  out$level90[[f]]$weights <- as.list(out$level90[[f]]$weights)
  out$level90[[f]]$r_warnings <- as.list(out$level90[[f]]$r_warnings)
}
out$methods <- as.list(methods)
out$tests <- as.list(tests)
writeLines(to_json(out), out_path)
cat("wrote", out_path, ":", length(results), "cases x", length(methods),
  "methods x", length(tests), "tests\n")
