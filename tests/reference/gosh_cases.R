# Regenerates tests/reference/gosh.json: metafor's gosh() for ketameta.gosh().
#
#   Rscript tests/reference/gosh_cases.R            (from the repository root)
#
# For every case (public data sets of metadat with k = 6 to 12, all 2^k - 1 subsets) and
# every method, it records what gosh() returns for each subset: k, QE, I2, H2, tau2 and the
# estimate, in metafor's row order, plus the membership of each subset as a bit mask
# (study j adds 2^(j-1)). Iterative estimators are recorded twice: with metafor's default
# stopping rules ("metafor") and iterated to the exact optimum ("exact":
# threshold = 1e-12, maxiter = 10000 for ML, REML and EB; tol = 1e-15 for PM). Inputs
# (yi, vi) are stored too, so the Python tests need no escalc. Numbers are written with 17
# significant digits; R and metafor versions are recorded.

suppressPackageStartupMessages(library(metafor))

closed_form <- c("EE", "DL", "HE", "HS", "SJ")
iterative <- c("ML", "REML", "EB", "PM")
exact_control <- list(
  ML = list(threshold = 1e-12, maxiter = 10000),
  REML = list(threshold = 1e-12, maxiter = 10000),
  EB = list(threshold = 1e-12, maxiter = 10000),
  PM = list(tol = 1e-15, maxiter = 10000)
)

cases <- list()
add_case <- function(name, yi, vi, source, methods) {
  cases[[name]] <<- list(yi = as.numeric(yi), vi = as.numeric(vi), source = source,
    methods = methods)
}

every <- c(closed_form, iterative)
hine <- escalc(measure = "RD", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.hine1989)
add_case("hine1989_rd", hine$yi, hine$vi,
  'escalc("RD", ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.hine1989)', every)

nor <- escalc(measure = "SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
  n2i = n2i, data = dat.normand1999)
add_case("normand1999_smd", nor$yi, nor$vi,
  'escalc("SMD", m1i, sd1i, n1i, m2i, sd2i, n2i, data=dat.normand1999)', every)

col <- escalc(measure = "OR", ai = pre.xti, n1i = pre.nti, ci = pre.xci, n2i = pre.nci,
  data = dat.collins1985b)
add_case("collins1985b_logor", col$yi, col$vi,
  'escalc("OR", ai=pre.xti, n1i=pre.nti, ci=pre.xci, n2i=pre.nci, data=dat.collins1985b)',
  every)

hahn <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.hahn2001)
add_case("hahn2001_logor", hahn$yi, hahn$vi,
  'escalc("OR", ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.hahn2001)', c("DL", "REML"))

one_gosh <- function(yi, vi, method, control) {
  fit <- if (is.null(control)) rma(yi, vi, method = method) else
    rma(yi, vi, method = method, control = control)
  g <- gosh(fit, progbar = FALSE)
  bits <- as.numeric(g$incl %*% (2^(seq_len(ncol(g$incl)) - 1)))
  list(call = if (is.null(control)) sprintf('gosh(rma(yi, vi, method="%s"))', method) else
      sprintf('gosh(rma(yi, vi, method="%s", control=%s))', method,
        paste(deparse(control), collapse = "")),
    full_tau2 = fit$tau2, full_estimate = c(fit$b),
    members = bits, k = g$res$k, QE = g$res$QE, I2 = g$res$I2, H2 = g$res$H2,
    tau2 = g$res$tau2, estimate = g$res$estimate)
}

results <- list()
for (name in names(cases)) {
  case <- cases[[name]]
  fits <- list()
  for (method in case$methods) {
    if (method %in% closed_form) {
      fits[[method]] <- one_gosh(case$yi, case$vi, method, NULL)
    } else {
      fits[[paste0(method, "_metafor")]] <- one_gosh(case$yi, case$vi, method, NULL)
      fits[[paste0(method, "_exact")]] <- one_gosh(case$yi, case$vi, method,
        exact_control[[method]])
    }
  }
  results[[name]] <- list(yi = as.list(case$yi), vi = as.list(case$vi),
    source = case$source, fits = fits)
}

to_json <- function(x) {
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (!is.null(names(x))) {
      parts <- vapply(names(x), function(n) paste0(jsonlite::toJSON(n, auto_unbox = TRUE),
        ":", to_json(x[[n]])), "")
      return(paste0("{", paste(parts, collapse = ",\n"), "}"))
    }
    return(paste0("[", paste(vapply(x, to_json, ""), collapse = ","), "]"))
  }
  if (is.character(x)) {
    s <- vapply(x, function(e) as.character(jsonlite::toJSON(e, auto_unbox = TRUE)), "")
    return(if (length(x) == 1) s else paste0("[", paste(s, collapse = ","), "]"))
  }
  num <- vapply(as.numeric(x), function(e) {
    if (is.na(e)) "null" else sprintf("%.17g", e)
  }, "")
  if (length(x) == 1) return(num)
  paste0("[", paste(num, collapse = ","), "]")
}

out <- list(
  generated_by = "tests/reference/gosh_cases.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  cases = results
)
writeLines(to_json(out), "tests/reference/gosh.json")
cat("wrote tests/reference/gosh.json:", length(results), "cases\n")
