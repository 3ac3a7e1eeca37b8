# Regenerates tests/reference/bias.json: metafor results for the small-study-effect tests
# (regtest, ranktest, trimfill) and the sensitivity analyses (leave1out, influence, cumul)
# that ketameta.bias and ketameta.sensitivity must reproduce.
#
# Usage (from the repository root):
#     Rscript tests/reference/bias_cases.R tests/reference/bias.json
#     Rscript tests/reference/bias_cases.R tests/reference/bias_exact.json --tight
#
# With --tight every rma() fit (and the refits inside trimfill, leave1out, influence and
# cumul, which inherit or receive it) uses control = list(threshold = 1e-12, tol = 1e-12,
# maxiter = 10000): the exact optima that ketameta computes by default. Without it,
# metafor's default stopping (ketameta's control = "metafor").
#
# Every number is written with 17 significant digits. Calls that stop with an error in
# metafor are recorded as {"error": "<message>"}; ketameta must then return an undefined
# (NaN / None) result without raising. The R and metafor versions are recorded under "meta".
#
# Exact calls (with `res <- rma(yi, vi, method=method, test=test)`):
#   regtest(yi, vi, model="lm")                      # classical Egger test, predictor "sei"
#   ranktest(yi, vi)                                 # Begg & Mazumdar, metafor's default exact=TRUE
#   trimfill(res, estimator=e, test=test)            # `test` is passed on so that the filled
#   trimfill(res, estimator=e, side=s, test=test)    #   model uses the same test (see below)
#   leave1out(res); influence(res); cumul(res, order=order)
#   rma(yi, vi, mods=sqrt(vi), method=method)      # the regression that picks trimfill's side
#
# Why `test=test` is passed to trimfill(): metafor 3.8-1 refits the augmented data with
# rma.uni() defaults, i.e. test="z", unless `test` is given through `...`; when k0 = 0 it
# returns the original model unchanged (with its own test). Passing it makes both branches
# use the requested test, which is what ketameta.trimfill() documents.

suppressPackageStartupMessages(library(metafor))

args <- commandArgs(trailingOnly = TRUE)
tight <- "--tight" %in% args
args <- setdiff(args, "--tight")
out_path <- if (length(args) >= 1) args[1] else "tests/reference/bias.json"
ctl <- if (tight) list(threshold = 1e-12, tol = 1e-12, maxiter = 10000) else list()

# ---------------------------------------------------------------------------------------
# Minimal JSON writer: numbers with 17 significant digits, NA/NaN -> null, +-Inf -> null.
# A vector wrapped in arr() is always written as an array (even of length 0 or 1).

arr <- function(x) structure(list(x), class = "jarr")

json_num <- function(x) {
  ifelse(is.finite(x), sprintf("%.17g", x), "null")
}

json_str <- function(x) {
  x <- gsub("\\\\", "\\\\\\\\", x)
  x <- gsub("\"", "\\\\\"", x)
  x <- gsub("\n", "\\\\n", x)
  paste0("\"", x, "\"")
}

json_atom <- function(x) {
  if (is.logical(x)) return(ifelse(is.na(x), "null", ifelse(x, "true", "false")))
  if (is.character(x)) return(ifelse(is.na(x), "null", json_str(x)))
  json_num(as.numeric(x))
}

to_json <- function(x, indent = "") {
  inner <- paste0(indent, "  ")
  if (inherits(x, "jarr")) {
    v <- x[[1]]
    if (length(v) == 0) return("[]")
    return(paste0("[", paste(json_atom(unname(v)), collapse = ", "), "]"))
  }
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (length(x) == 0) return(if (is.null(names(x))) "[]" else "{}")
    if (is.null(names(x))) {
      items <- vapply(x, to_json, character(1), indent = inner)
      return(paste0("[\n", inner, paste(items, collapse = paste0(",\n", inner)), "\n", indent, "]"))
    }
    items <- vapply(seq_along(x), function(i) {
      paste0(json_str(names(x)[i]), ": ", to_json(x[[i]], indent = inner))
    }, character(1))
    return(paste0("{\n", inner, paste(items, collapse = paste0(",\n", inner)), "\n", indent, "}"))
  }
  if (length(x) == 1) return(json_atom(unname(x)))
  paste0("[", paste(json_atom(unname(x)), collapse = ", "), "]")
}

# Run an expression; on error return list(error=<message>) instead of stopping.
attempt <- function(expr) {
  tryCatch(suppressWarnings(expr), error = function(e) list(error = conditionMessage(e)))
}

# ---------------------------------------------------------------------------------------
# Datasets (all from the metadat package that ships with metafor).

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
egger <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.egger2001)
normand <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i,
                  m2i = m2i, sd2i = sd2i, n2i = n2i, data = dat.normand1999)
hine <- escalc(measure = "RD", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.hine1989)
curtis <- escalc(measure = "ROM", m1i = m1i, sd1i = sd1i, n1i = n1i,
                 m2i = m2i, sd2i = sd2i, n2i = n2i, data = dat.curtis1998)

datasets <- list(
  bcg = list(source = "escalc('RR', ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg); cumul order: year",
             yi = bcg$yi, vi = bcg$vi, order = bcg$year),
  hackshaw1998 = list(source = "dat.hackshaw1998 (yi, vi as given: log OR); cumul order: year",
                      yi = dat.hackshaw1998$yi, vi = dat.hackshaw1998$vi,
                      order = dat.hackshaw1998$year),
  egger2001 = list(source = "escalc('OR', ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.egger2001); cumul order: year",
                   yi = egger$yi, vi = egger$vi, order = egger$year),
  normand1999 = list(source = "escalc('MD', m1i, sd1i, n1i, m2i, sd2i, n2i, data=dat.normand1999); cumul order: as given",
                     yi = normand$yi, vi = normand$vi, order = NULL),
  raudenbush1985 = list(source = "dat.raudenbush1985 (yi, vi as given: SMD; tied vi); cumul order: year",
                        yi = dat.raudenbush1985$yi, vi = dat.raudenbush1985$vi,
                        order = dat.raudenbush1985$year),
  hine1989 = list(source = "escalc('RD', ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.hine1989)",
                  yi = hine$yi, vi = hine$vi, order = NULL),
  curtis1998 = list(source = "escalc('ROM', m1i, sd1i, n1i, m2i, sd2i, n2i, data=dat.curtis1998)",
                    yi = curtis$yi, vi = curtis$vi, order = NULL),
  bcg_k3 = list(source = "first 3 studies of bcg", yi = bcg$yi[1:3], vi = bcg$vi[1:3], order = NULL),
  bcg_k2 = list(source = "first 2 studies of bcg", yi = bcg$yi[1:2], vi = bcg$vi[1:2], order = NULL)
)

bias_sets <- names(datasets)
trimfill_sets <- c("bcg", "hackshaw1998", "egger2001", "normand1999", "raudenbush1985",
                   "hine1989", "curtis1998", "bcg_k3", "bcg_k2")
sens_sets <- c("bcg", "egger2001", "normand1999", "raudenbush1985",
               "bcg_k3", "bcg_k2")
all_methods <- c("EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
sens_methods <- c("EE", "DL", "REML", "ML", "PM")
tests <- c("z", "knha")

# ---------------------------------------------------------------------------------------

do_regtest <- function(d) {
  attempt({
    rt <- regtest(d$yi, d$vi, model = "lm")
    cf <- coef(summary(rt$fit))
    list(call = "regtest(yi, vi, model='lm')",
         statistic = rt$zval, p_value = rt$pval, df = rt$dfs,
         slope = cf[2, 1], slope_se = cf[2, 2],
         limit_estimate = rt$est, limit_ci_low = rt$ci.lb, limit_ci_high = rt$ci.ub)
  })
}

do_ranktest <- function(d) {
  attempt({
    rk <- ranktest(d$yi, d$vi)
    list(call = "ranktest(yi, vi)", tau = unname(rk$tau), p_value = rk$pval,
         ties = length(unique(d$vi)) < length(d$vi))
  })
}

do_trimfill <- function(d, method, test, estimator, side = NULL) {
  attempt({
    res <- rma(d$yi, d$vi, method = method, test = test, control = ctl)
    tf <- if (is.null(side)) {
      trimfill(res, estimator = estimator, test = test, control = ctl)
    } else {
      trimfill(res, estimator = estimator, side = side, test = test, control = ctl)
    }
    fill <- if (is.null(tf$fill)) rep(FALSE, tf$k) else tf$fill
    list(k0 = tf$k0, se_k0 = tf$se.k0, p_k0 = tf$p.k0, side = tf$side, k = tf$k,
         estimate = c(tf$beta), se = tf$se, statistic = tf$zval, p_value = tf$pval,
         ci_low = tf$ci.lb, ci_high = tf$ci.ub, tau2 = tf$tau2, Q = tf$QE, I2 = tf$I2,
         H2 = tf$H2, test = tf$test,
         filled_yi = arr(c(tf$yi)[fill]), filled_vi = arr(tf$vi[fill]))
  })
}

zero_if_null <- function(x, k) if (is.null(x)) rep(0, k) else x

do_sensitivity <- function(d, method, test) {
  res <- attempt(rma(d$yi, d$vi, method = method, test = test, control = ctl))
  if (!is.null(res$error) && !inherits(res, "rma")) return(list(error = res$error))
  k <- res$k
  l1o <- attempt({
    l <- leave1out(res)
    # metafor drops the tau2 column for EE models; tau^2 is 0 there by definition.
    list(estimate = arr(l$estimate), se = arr(l$se), statistic = arr(l[[3]]),
         p_value = arr(l$pval), ci_low = arr(l$ci.lb), ci_high = arr(l$ci.ub),
         Q = arr(l$Q), Q_p = arr(l$Qp), tau2 = arr(zero_if_null(l$tau2, k)),
         I2 = arr(l$I2), H2 = arr(l$H2))
  })
  inf <- attempt({
    f <- influence(res)
    list(rstudent = arr(f$inf$rstudent), dffits = arr(f$inf$dffits),
         cook_d = arr(f$inf$cook.d), cov_r = arr(f$inf$cov.r),
         tau2_del = arr(f$inf$tau2.del), QE_del = arr(f$inf$QE.del),
         hat = arr(f$inf$hat), weight = arr(f$inf$weight),
         dfbetas = arr(f$dfbs$intrcpt),
         influential = arr(f$is.infl & !is.na(f$is.infl)))
  })
  cum <- attempt({
    cm <- if (is.null(d$order)) cumul(res) else cumul(res, order = d$order)
    list(estimate = arr(cm$estimate), se = arr(cm$se), statistic = arr(cm[[3]]),
         p_value = arr(cm$pvals), ci_low = arr(cm$ci.lb), ci_high = arr(cm$ci.ub),
         Q = arr(cm$Q), Q_p = arr(cm$Qp), tau2 = arr(zero_if_null(cm$tau2, k)),
         I2 = arr(cm$I2), H2 = arr(cm$H2))
  })
  list(leave1out = l1o, influence = inf, cumul = cum)
}

# ---------------------------------------------------------------------------------------

out <- list()
out$meta <- list(
  generated_by = "tests/reference/bias_cases.R",
  R = R.version.string,
  metafor = as.character(packageVersion("metafor")),
  control = if (tight) "list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)" else "defaults",
  calls = list(
    regtest = "regtest(yi, vi, model='lm')",
    ranktest = "ranktest(yi, vi)",
    trimfill = "trimfill(rma(yi, vi, method=method, test=test), estimator=estimator[, side=side], test=test)",
    leave1out = "leave1out(rma(yi, vi, method=method, test=test))",
    influence = "influence(rma(yi, vi, method=method, test=test))",
    cumul = "cumul(rma(yi, vi, method=method, test=test)[, order=order])",
    side_regression = "rma(yi, vi, mods=sqrt(vi), method=method): tau2 and beta[2]"
  ),
  grid = list(bias_sets = bias_sets, trimfill_sets = trimfill_sets, sens_sets = sens_sets,
              trimfill_methods = all_methods, sens_methods = sens_methods, tests = tests,
              estimators = c("L0", "R0"))
)

out$datasets <- lapply(datasets, function(d) {
  list(source = d$source, yi = arr(c(d$yi)), vi = arr(d$vi),
       order = if (is.null(d$order)) NULL else arr(d$order))
})

out$regtest <- lapply(datasets[bias_sets], do_regtest)
out$ranktest <- lapply(datasets[bias_sets], do_ranktest)

# The meta-regression trimfill() uses to choose the side: rma(yi, vi, mods=sqrt(vi), method=m).
do_side_regression <- function(d, method) {
  attempt({
    fit <- rma(d$yi, d$vi, mods = sqrt(d$vi), method = method, control = ctl)
    list(tau2 = fit$tau2, slope = unname(fit$beta[2, 1]))
  })
}
out$side_regression <- lapply(datasets[trimfill_sets], function(d) {
  setNames(lapply(all_methods, function(m) do_side_regression(d, m)), all_methods)
})

tf_cases <- list()
for (nm in trimfill_sets) for (m in all_methods) for (t in tests) for (e in c("L0", "R0")) {
  tf_cases[[length(tf_cases) + 1]] <- list(dataset = nm, method = m, test = t, estimator = e,
                                           side = NULL,
                                           result = do_trimfill(datasets[[nm]], m, t, e))
}
# side given explicitly (the opposite of the one metafor would choose)
for (spec in list(list("bcg", "left"), list("hackshaw1998", "right"), list("egger2001", "left"))) {
  for (e in c("L0", "R0")) {
    tf_cases[[length(tf_cases) + 1]] <- list(
      dataset = spec[[1]], method = "REML", test = "z", estimator = e, side = spec[[2]],
      result = do_trimfill(datasets[[spec[[1]]]], "REML", "z", e, side = spec[[2]]))
  }
}
out$trimfill <- tf_cases

sens_cases <- list()
for (nm in sens_sets) for (m in sens_methods) for (t in tests) {
  sens_cases[[length(sens_cases) + 1]] <- c(list(dataset = nm, method = m, test = t),
                                            do_sensitivity(datasets[[nm]], m, t))
}
out$sensitivity <- sens_cases

writeLines(to_json(out), out_path)
cat("wrote", out_path, "\n")
