# Regenerates tests/reference/metareg.json: metafor results for ketameta's meta-regression
# (rma with mods), subgroup analyses and Egger's test with the mixed-effects model.
#
#   Rscript tests/reference/metareg_cases.R        (from the repository root)
#
# Every fit uses metafor's tight settings, so that the numbers are the exact optima that
# ketameta computes by default:
#   ctl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
#   rma(yi, vi, mods = <formula>, method = method, test = test, control = ctl)
#   confint(fit, control = list(tol = 1e-12))
#   predict(fit, newmods = <first two rows of the model matrix, without the intercept>)
# Subgroups (separate tau^2): rma(yi, vi, subset = group == g, ...) per group and
#   Q_between = rma(estimates, sei = standard errors, method = "EE")$QE on G - 1 df;
# subgroups (common tau^2): rma(yi, vi, mods = ~ factor(group), ...)$QM and per group
#   rma(yi, vi, subset = group == g, tau2 = <common tau^2>, test = test).
# Egger: regtest(rma(yi, vi, ni = ni, method = m, test = t, control = ctl), model = "rma",
#   predictor = p) (the model object carries `control`; regtest() on vectors ignores it).
# Numbers have 17 significant digits; R and metafor versions are recorded.

suppressPackageStartupMessages(library(metafor))

ctl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
cictl <- list(tol = 1e-12)
methods <- c("EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
tests <- c("z", "knha", "adhoc", "t")

arr <- function(x) structure(list(x), class = "jarr")
json_num <- function(x) ifelse(is.finite(x), sprintf("%.17g", x), "null")
json_str <- function(x) {
  x <- gsub("\\\\", "\\\\\\\\", x)
  x <- gsub("\"", "\\\\\"", x)
  paste0("\"", x, "\"")
}
json_atom <- function(x) {
  if (is.logical(x)) return(ifelse(is.na(x), "null", ifelse(x, "true", "false")))
  if (is.character(x)) return(ifelse(is.na(x), "null", json_str(x)))
  json_num(as.numeric(x))
}
to_json <- function(x) {
  if (inherits(x, "jarr")) {
    v <- x[[1]]
    if (length(v) == 0) return("[]")
    return(paste0("[", paste(json_atom(unname(v)), collapse = ","), "]"))
  }
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (!is.null(names(x))) {
      parts <- vapply(names(x), function(n) paste0(json_str(n), ":", to_json(x[[n]])), "")
      return(paste0("{", paste(parts, collapse = ","), "}"))
    }
    return(paste0("[", paste(vapply(x, to_json, ""), collapse = ","), "]"))
  }
  if (length(x) == 1) return(json_atom(x))
  to_json(arr(x))
}
attempt <- function(expr) tryCatch(expr, error = function(e) list(error = conditionMessage(e)))

# ---- data ------------------------------------------------------------------------------

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
bcg <- as.data.frame(bcg)
ban <- as.data.frame(dat.bangertdrowns2004)
mol <- as.data.frame(escalc(measure = "ZCOR", ri = ri, ni = ni, data = dat.molloy2014))

datasets <- list(
  bcg = list(data = bcg, source = "escalc('RR', ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)",
             columns = c("ablat", "year", "alloc")),
  bangertdrowns2004 = list(data = ban, source = "dat.bangertdrowns2004 (yi, vi as given: SMD)",
             columns = c("length", "grade", "imag", "meta", "ni")),
  molloy2014 = list(data = mol, source = "escalc('ZCOR', ri=ri, ni=ni, data=dat.molloy2014)",
             columns = c("meanage", "quality", "design", "ni"))
)

# formula, dataset; categorical columns are written as strings and named in `factors`
models <- list(
  bcg_ablat = list(set = "bcg", mods = "~ ablat", factors = character(0)),
  bcg_ablat_year = list(set = "bcg", mods = "~ ablat + year", factors = character(0)),
  bcg_alloc = list(set = "bcg", mods = "~ factor(alloc)", factors = "alloc"),
  bcg_ablat_year_alloc = list(set = "bcg", mods = "~ ablat + year + factor(alloc)",
                              factors = "alloc"),
  bcg_alloc_nointercept = list(set = "bcg", mods = "~ factor(alloc) - 1", factors = "alloc"),
  bangertdrowns2004_length = list(set = "bangertdrowns2004", mods = "~ length",
                                  factors = character(0)),
  bangertdrowns2004_grade = list(set = "bangertdrowns2004", mods = "~ factor(grade)",
                                 factors = "grade"),
  bangertdrowns2004_length_imag_meta = list(set = "bangertdrowns2004",
                                            mods = "~ length + imag + meta",
                                            factors = character(0)),
  molloy2014_meanage = list(set = "molloy2014", mods = "~ meanage", factors = character(0)),
  molloy2014_quality_design = list(set = "molloy2014", mods = "~ quality + factor(design)",
                                   factors = "design")
)

fit_metareg <- function(d, mods, method, test) {
  attempt({
    f <- as.formula(mods)
    r <- rma(yi, vi, mods = f, data = d, method = method, test = test, control = ctl)
    X <- r$X
    intercept <- colnames(X)[1] == "intrcpt"
    newx <- X[1:2, if (intercept) -1 else seq_len(ncol(X)), drop = FALSE]
    p <- predict(r, newmods = newx)
    out <- list(
      names = arr(colnames(X)),
      beta = arr(c(r$beta)), se = arr(r$se), statistic = arr(r$zval), p_value = arr(r$pval),
      ci_low = arr(r$ci.lb), ci_high = arr(r$ci.ub),
      vcov = lapply(seq_len(nrow(r$vb)), function(i) arr(r$vb[i, ])),
      QM = r$QM, QM_df = arr(r$QMdf), QM_p = r$QMp, QE = r$QE, QE_df = r$k - r$p,
      QE_p = r$QEp, tau2 = r$tau2, se_tau2 = r$se.tau2, I2 = r$I2, H2 = r$H2,
      R2 = if (is.null(r$R2)) NA_real_ else r$R2, df = if (test == "z") NA_real_ else r$ddf,
      newmods = lapply(seq_len(nrow(newx)), function(i) arr(newx[i, ])),
      pred = arr(p$pred), pred_se = arr(p$se), pred_ci_low = arr(p$ci.lb),
      pred_ci_high = arr(p$ci.ub),
      pred_pi_low = arr(if (is.null(p$pi.lb)) rep(NA, 2) else p$pi.lb),
      pred_pi_high = arr(if (is.null(p$pi.ub)) rep(NA, 2) else p$pi.ub)
    )
    if (method != "EE") {
      ci <- confint(r, control = cictl)
      out$tau2_ci_low <- ci$random["tau^2", "ci.lb"]
      out$tau2_ci_high <- ci$random["tau^2", "ci.ub"]
      out$I2_ci_low <- ci$random["I^2(%)", "ci.lb"]
      out$I2_ci_high <- ci$random["I^2(%)", "ci.ub"]
    }
    out
  })
}

metareg <- list()
for (name in names(models)) {
  spec <- models[[name]]
  d <- datasets[[spec$set]]$data
  vars <- all.vars(as.formula(spec$mods))
  d <- d[complete.cases(d[, c("yi", "vi", vars)]), ]
  cols <- lapply(vars, function(v) {
    if (v %in% spec$factors) arr(as.character(d[[v]])) else arr(as.numeric(d[[v]]))
  })
  names(cols) <- vars
  fits <- list()
  for (m in methods) for (t in tests) {
    fits[[paste(m, t, sep = "/")]] <- fit_metareg(d, spec$mods, m, t)
  }
  metareg[[name]] <- list(dataset = spec$set, mods = spec$mods, factors = arr(spec$factors),
    intercept = !grepl("- 1", spec$mods), yi = arr(c(d$yi)), vi = arr(c(d$vi)),
    columns = cols, fits = fits)
}

# ---- subgroups -------------------------------------------------------------------------

bcg$split <- ifelse(bcg$trial == 1, "first", ifelse(bcg$ablat > 30, "far", "near"))
subsets <- list(
  bcg_alloc = list(data = bcg, group = "alloc"),
  bcg_single_trial = list(data = bcg, group = "split"),
  bangertdrowns2004_grade = list(data = ban, group = "grade"),
  molloy2014_design = list(data = mol, group = "design")
)

group_fit <- function(r) {
  p <- predict(r)
  list(k = r$k, estimate = c(r$beta), se = r$se, ci_low = r$ci.lb, ci_high = r$ci.ub,
       statistic = r$zval, p_value = r$pval, tau2 = r$tau2, I2 = r$I2, Q = r$QE,
       pi_low = if (is.null(p$pi.lb)) NA_real_ else p$pi.lb,
       pi_high = if (is.null(p$pi.ub)) NA_real_ else p$pi.ub)
}

do_subgroup <- function(d, g, method, test) {
  labels <- unique(as.character(d[[g]]))
  sep <- attempt({
    fits <- lapply(labels, function(l) {
      group_fit(suppressWarnings(rma(yi, vi, data = d, subset = as.character(d[[g]]) == l,
        method = method, test = test, control = ctl)))
    })
    names(fits) <- labels
    est <- vapply(fits, function(f) f$estimate, 0)
    se <- vapply(fits, function(f) f$se, 0)
    qb <- rma(est, sei = se, method = "EE")
    list(fits = fits, Q_between = qb$QE, Q_between_df = length(labels) - 1, Q_between_p = qb$QEp)
  })
  com <- attempt({
    r <- rma(yi, vi, mods = ~ factor(d[[g]]), data = d, method = method, test = test,
      control = ctl)
    fits <- lapply(labels, function(l) {
      group_fit(suppressWarnings(rma(yi, vi, data = d, subset = as.character(d[[g]]) == l,
        tau2 = r$tau2, test = test)))
    })
    names(fits) <- labels
    list(fits = fits, tau2 = r$tau2, Q_between = r$QM, Q_between_df = arr(r$QMdf),
         Q_between_p = r$QMp)
  })
  list(separate = sep, common = com)
}

subgroups <- list()
for (name in names(subsets)) {
  s <- subsets[[name]]
  d <- s$data
  res <- list()
  for (m in methods) for (t in c("z", "knha")) {
    res[[paste(m, t, sep = "/")]] <- do_subgroup(d, s$group, m, t)
  }
  subgroups[[name]] <- list(yi = arr(c(d$yi)), vi = arr(c(d$vi)),
    groups = arr(as.character(d[[s$group]])), results = res)
}

# ---- Egger's test with the mixed-effects model -----------------------------------------

predictors <- c("sei", "vi", "ni", "ninv", "sqrtninv")
egger_sets <- list(bangertdrowns2004 = ban, molloy2014 = mol,
                   bcg = transform(bcg, ni = tpos + tneg + cpos + cneg))
regtests <- list()
for (name in names(egger_sets)) {
  d <- egger_sets[[name]]
  res <- list()
  for (pr in predictors) for (m in c("EE", "DL", "REML", "ML", "PM")) for (t in c("z", "knha")) {
    res[[paste(pr, m, t, sep = "/")]] <- attempt({
      fit <- rma(d$yi, d$vi, ni = d$ni, method = m, test = t, control = ctl)
      rt <- regtest(fit, model = "rma", predictor = pr)
      list(statistic = rt$zval, p_value = rt$pval,
           df = if (t == "z") NA_real_ else rt$ddf,
           slope = unname(coef(rt$fit)[2]), slope_se = rt$fit$se[2], tau2 = rt$fit$tau2,
           limit_estimate = if (is.null(rt$est)) NA_real_ else unname(rt$est),
           limit_ci_low = if (is.null(rt$ci.lb)) NA_real_ else rt$ci.lb,
           limit_ci_high = if (is.null(rt$ci.ub)) NA_real_ else rt$ci.ub)
    })
  }
  regtests[[name]] <- list(yi = arr(c(d$yi)), vi = arr(c(d$vi)), ni = arr(as.numeric(d$ni)),
                           results = res)
}

out <- list(
  generated_by = "tests/reference/metareg_cases.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  control = list(threshold = 1e-12, tol = 1e-12, maxiter = 10000, confint_tol = 1e-12),
  methods = arr(methods), tests = arr(tests),
  metareg = metareg, subgroups = subgroups, regtest = regtests
)
writeLines(to_json(out), "tests/reference/metareg.json")
cat("wrote tests/reference/metareg.json\n")
