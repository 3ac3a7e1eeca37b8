# Regenerates tests/reference/rma_mv.json: metafor and clubSandwich results for
# ketameta.rma_mv(), ketameta.vcalc() and ketameta.robust().
#
#   Rscript tests/reference/rma_mv_cases.R            (from the repository root)
#
# Every case stores its input (yi, the full V matrix, cluster and effect ids, the
# moderators as named columns), the exact R call, and the results of rma.mv() (fitted with
# tight optimizer settings so that the optimum is the exact one), predict(), confint()
# (profile-likelihood CIs of each sigma^2, with a tight root tolerance), robust() (CR0 and
# CR1 as metafor computes them) and clubSandwich's CR2 (vcovCR(), coef_test() with
# Satterthwaite degrees of freedom, conf_int()). Cluster-robust results are also stored
# for rma.uni() fits (dat.bcg) as the second use of ketameta.robust().
# Numbers are written with 17 significant digits; R, metafor and clubSandwich versions are
# recorded.

suppressPackageStartupMessages({
  library(metafor)
  library(clubSandwich)
})

# nlminb on log(sigma^2) (metafor's default optimizer) with tolerances far below the
# defaults, so that the reported optimum is the exact maximum of the (restricted)
# likelihood to about 1e-10 relative.
CTRL <- list(optimizer = "nlminb", rel.tol = 1e-12, iter.max = 1000, eval.max = 2000)
CTRL_CALL <- "control=list(optimizer='nlminb', rel.tol=1e-12, iter.max=1000, eval.max=2000)"
# uniroot() tolerance of the profile-likelihood CIs (metafor's default is eps^0.25)
CI_TOL <- 1e-10

na_if_null <- function(x) if (is.null(x) || length(x) == 0) NA_real_ else as.numeric(x)
mat_rows <- function(m) lapply(seq_len(nrow(m)), function(i) as.list(as.numeric(m[i, ])))

cases <- list()

# d: data.frame with yi, cluster, effect and the moderator columns named in `mods`
# (character columns are factors in R's formula, dummy coded against the first level).
add_case <- function(name, d, V, source, mods = character(0), newmods = NULL,
                     randoms = c("cluster/effect", "cluster"), methods = c("REML", "ML"),
                     tests = c("z", "t"), robust_clusters = list(cluster = d$cluster)) {
  cases[[name]] <<- list(d = d, V = V, source = source, mods = mods, newmods = newmods,
    randoms = randoms, methods = methods, tests = tests, robust_clusters = robust_clusters)
}

capture_warnings <- function(expr) {
  msgs <- character(0)
  val <- withCallingHandlers(tryCatch(expr, error = function(e) e),
    warning = function(w) {
      msgs <<- c(msgs, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
  list(value = val, warnings = msgs)
}

robust_record <- function(fit, cl) {
  out <- list()
  for (adj in c(TRUE, FALSE)) {
    r <- capture_warnings(robust(fit, cluster = cl, adjust = adj))
    key <- if (adj) "CR1" else "CR0"
    if (inherits(r$value, "error")) {
      out[[key]] <- list(error = conditionMessage(r$value))
      next
    }
    rr <- r$value
    out[[key]] <- list(beta = as.list(c(rr$beta)), vcov = mat_rows(rr$vb),
      se = as.list(rr$se), statistic = as.list(rr$zval), p_value = as.list(rr$pval),
      ci_low = as.list(rr$ci.lb), ci_high = as.list(rr$ci.ub), df = rr$ddf,
      QM = rr$QM, QM_df = as.list(rr$QMdf), QM_p = rr$QMp, n_clusters = rr$n)
  }
  r <- capture_warnings({
    vc <- vcovCR(fit, cluster = cl, type = "CR2")
    ct <- coef_test(fit, vcov = vc, test = "Satterthwaite")
    ci <- conf_int(fit, vcov = vc, test = "Satterthwaite", level = 1 - fit$level)
    rb <- robust(fit, cluster = cl, clubSandwich = TRUE)
    list(vc = vc, ct = ct, ci = ci, rb = rb)
  })
  if (inherits(r$value, "error")) {
    out$CR2 <- list(error = conditionMessage(r$value))
  } else {
    v <- r$value
    out$CR2 <- list(beta = as.list(v$ct$beta), vcov = mat_rows(as.matrix(v$vc)),
      se = as.list(v$ct$SE), statistic = as.list(v$ct$tstat), df = as.list(v$ct$df_Satt),
      p_value = as.list(v$ct$p_Satt), ci_low = as.list(v$ci$CI_L),
      ci_high = as.list(v$ci$CI_U), QM = v$rb$QM, QM_df = as.list(v$rb$QMdf),
      QM_p = v$rb$QMp, wald_test = if (fit$int.only) "t" else v$rb$wald_test)
  }
  out
}

fit_record <- function(cs, random, method, test) {
  d <- cs$d
  V <- cs$V
  rform <- if (random == "cluster/effect") ~ 1 | cluster/effect else ~ 1 | cluster
  mform <- if (length(cs$mods) == 0) ~ 1 else as.formula(paste("~", paste(cs$mods, collapse = " + ")))
  call <- sprintf("rma.mv(yi, V, random = %s, mods = %s, data = d, method = '%s', test = '%s', %s)",
    deparse(rform), deparse(mform), method, test, CTRL_CALL)
  r <- capture_warnings(rma.mv(yi, V, random = rform, mods = mform, data = d,
    method = method, test = test, control = CTRL))
  control <- "tight"
  if (inherits(r$value, "error")) {
    # nlminb sometimes reports false convergence at the tight tolerances (for a single
    # variance component or an optimum on the boundary); refit with metafor's defaults
    r <- capture_warnings(rma.mv(yi, V, random = rform, mods = mform, data = d,
      method = method, test = test))
    control <- "default"
    call <- sub(paste0(", ", CTRL_CALL), "", call, fixed = TRUE)
  }
  if (inherits(r$value, "error")) return(list(call = call, error = conditionMessage(r$value)))
  fit <- r$value
  fit_default <- if (control == "default") fit else rma.mv(yi, V, random = rform, mods = mform,
    data = d, method = method, test = test)
  p <- if (is.null(cs$newmods)) predict(fit) else predict(fit, newmods = cs$newmods)
  sig_ci <- list()
  ci_warnings <- character(0)
  for (j in seq_along(fit$sigma2)) {
    ci <- capture_warnings(confint(fit, sigma2 = j, control = list(tol = CI_TOL)))
    if (!inherits(ci$value, "error") && anyNA(ci$value$random[1, ])) {
      # a profile refit failed at the tight tolerances: profile the default-control fit
      ci <- capture_warnings(confint(fit_default, sigma2 = j, control = list(tol = CI_TOL)))
      ci$warnings <- c("profile of the default-control fit", ci$warnings)
    }
    ci_warnings <- c(ci_warnings, ci$warnings)
    sig_ci[[j]] <- if (inherits(ci$value, "error")) list(error = conditionMessage(ci$value))
      else list(estimate = ci$value$random[1, 1], ci_low = ci$value$random[1, 2],
        ci_high = ci$value$random[1, 3])
  }
  ll <- logLik(fit)
  rob <- list()
  for (cn in names(cs$robust_clusters)) rob[[cn]] <- robust_record(fit, cs$robust_clusters[[cn]])
  list(
    call = call, control = control, coef_names = as.list(rownames(fit$beta)),
    beta = as.list(c(fit$beta)), se = as.list(fit$se), statistic = as.list(fit$zval),
    p_value = as.list(fit$pval), ci_low = as.list(fit$ci.lb), ci_high = as.list(fit$ci.ub),
    vcov = mat_rows(fit$vb), df = if (test == "z") NA_real_ else na_if_null(fit$ddf[1]),
    sigma2 = as.list(fit$sigma2), s_nlevels = as.list(fit$s.nlevels),
    QE = fit$QE, QE_df = fit$k - fit$p, QE_p = fit$QEp,
    QM = fit$QM, QM_df = as.list(na_if_null(fit$QMdf)), QM_p = fit$QMp,
    loglik = as.numeric(ll), deviance = as.numeric(deviance(fit)),
    predict = list(pred = as.list(p$pred), se = as.list(p$se), ci_low = as.list(p$ci.lb),
      ci_high = as.list(p$ci.ub), pi_low = as.list(p$pi.lb), pi_high = as.list(p$pi.ub)),
    sigma2_ci = sig_ci,
    confint_warnings = as.list(ci_warnings), r_warnings = as.list(r$warnings),
    robust = rob
  )
}

# ---- cases -----------------------------------------------------------------------------

# Three-level: 56 studies (schools) nested in 11 districts.
k11 <- dat.konstantopoulos2011
d <- data.frame(yi = k11$yi, cluster = k11$district, effect = k11$school,
  year = k11$year - 1990)
add_case("konstantopoulos2011", d, diag(k11$vi),
  "dat.konstantopoulos2011: yi, vi; cluster = district, effect = school; year - 1990",
  randoms = c("cluster/effect", "cluster"))
add_case("konstantopoulos2011_year", d, diag(k11$vi),
  "dat.konstantopoulos2011 with moderator year - 1990", mods = "year",
  newmods = c(-5, 0, 10))

# Multivariate with known V: two outcomes (PD, AL) per trial, their covariances given.
b98 <- dat.berkey1998
Vb <- bldiag(lapply(split(b98[, c("v1i", "v2i")], b98$trial), as.matrix))
d <- data.frame(yi = b98$yi, cluster = b98$trial, effect = b98$outcome,
  outcome = b98$outcome, year = b98$year - 1983)
add_case("berkey1998", d, Vb,
  "dat.berkey1998 with V = bldiag(split(v1i, v2i) by trial); cluster = trial, effect = outcome")
add_case("berkey1998_outcome", d, Vb,
  "dat.berkey1998, moderator outcome (factor; AL is the reference level)", mods = "outcome",
  newmods = rbind(c(0), c(1)))

# One effect per cluster: the two-level model is rma.uni's; the robust cluster is the
# allocation method (three clusters: alternate, random, systematic).
bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
d <- data.frame(yi = as.numeric(bcg$yi), cluster = bcg$trial, effect = 1, ablat = bcg$ablat,
  alloc = bcg$alloc)
add_case("bcg", d, diag(as.numeric(bcg$vi)),
  "escalc('RR', ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg); cluster = trial",
  randoms = "cluster", robust_clusters = list(cluster = d$cluster, alloc = d$alloc))
add_case("bcg_ablat", d, diag(as.numeric(bcg$vi)),
  "dat.bcg log RR, moderator ablat", mods = "ablat", newmods = c(20, 40),
  randoms = "cluster", robust_clusters = list(alloc = d$alloc))

# Two clusters only.
d <- data.frame(yi = c(-0.8, -0.5, -0.3, -0.1, -0.6, -0.2, 0.1),
  cluster = c(1, 1, 1, 2, 2, 2, 2), effect = c(1, 2, 3, 1, 2, 3, 4))
add_case("two_clusters", d, diag(c(0.04, 0.05, 0.06, 0.03, 0.05, 0.05, 0.07)),
  "synthetic: 2 trials with 3 and 4 effects")

# Between-cluster variance at 0: the cluster means are nearly equal and the within-cluster
# spread exceeds the sampling error.
d <- data.frame(yi = c(0.1, 0.6, -0.2, 0.7, 0.0, 0.3, 0.65, -0.25, 0.45, 0.05, 0.25, 0.35),
  cluster = rep(1:4, each = 3), effect = rep(1:3, 4))
add_case("sigma2_cluster_zero", d, diag(rep(c(0.01, 0.015, 0.02), 4)),
  "synthetic: 4 trials x 3 effects, between-trial sigma^2 at 0")

# A time course: effects at several times nested in trials, V from vcalc() with an assumed
# correlation of 0.6 between time points of a trial, time as log days and as categories.
set.seed(20261201)
times <- c("40min" = 40 / 1440, "1d" = 1, "3d" = 3, "7d" = 7, "14d" = 14)
rows <- list()
for (tr in 1:7) {
  nt <- sample(2:5, 1)
  tp <- sort(sample(names(times), nt))
  tp <- names(times)[names(times) %in% tp]
  u <- rnorm(1, 0, 0.3)
  for (t in tp) {
    vi <- round(runif(1, 0.03, 0.12), 4)
    yi <- round(-0.9 + 0.15 * log(times[[t]]) + u + rnorm(1, 0, 0.15) + rnorm(1, 0, sqrt(vi)), 4)
    rows[[length(rows) + 1]] <- data.frame(yi = yi, vi = vi, cluster = tr, effect = t,
      logdays = log(times[[t]]), time = t)
  }
}
tc <- do.call(rbind, rows)
tc$time <- factor(tc$time, levels = names(times))
Vtc <- vcalc(vi, cluster = cluster, obs = effect, rho = 0.6, data = tc)
d <- data.frame(yi = tc$yi, cluster = tc$cluster, effect = tc$effect, logdays = tc$logdays,
  time = tc$time)
add_case("timecourse", d, Vtc,
  "synthetic time course (set.seed(20261201)), V = vcalc(vi, cluster, obs = effect, rho = 0.6)")
add_case("timecourse_logdays", d, Vtc,
  "synthetic time course, moderator log(days)", mods = "logdays",
  newmods = log(c(40 / 1440, 1, 7)))
add_case("timecourse_time", d, Vtc,
  "synthetic time course, time point as a factor (reference level 40min)", mods = "time",
  newmods = rbind(c(0, 0, 0, 0), c(1, 0, 0, 0), c(0, 0, 1, 0)))

# ---- fits ------------------------------------------------------------------------------

results <- list()
for (name in names(cases)) {
  cs <- cases[[name]]
  fits <- list()
  for (random in cs$randoms) for (method in cs$methods) for (test in cs$tests) {
    fits[[paste(random, method, test, sep = "|")]] <- fit_record(cs, random, method, test)
  }
  d <- cs$d
  mods <- lapply(cs$mods, function(m) if (is.numeric(d[[m]])) as.list(d[[m]]) else as.list(as.character(d[[m]])))
  names(mods) <- cs$mods
  levels_of <- lapply(cs$mods, function(m) if (is.factor(d[[m]])) as.list(levels(d[[m]])) else NULL)
  names(levels_of) <- cs$mods
  results[[name]] <- list(
    source = cs$source, yi = as.list(d$yi), V = mat_rows(cs$V),
    cluster = as.list(as.character(d$cluster)), effect = as.list(as.character(d$effect)),
    mods = mods, mod_levels = levels_of,
    newmods = if (is.null(cs$newmods)) NULL else mat_rows(as.matrix(cs$newmods)),
    robust_clusters = lapply(cs$robust_clusters, function(x) as.list(as.character(x))),
    fits = fits)
}

# ---- rma.uni fits with cluster-robust inference ---------------------------------------

uni <- list()
for (method in c("REML", "DL", "EE")) for (test in c("z", "knha")) {
  for (with_mods in c(FALSE, TRUE)) {
    f <- if (with_mods) rma(yi, vi, mods = ~ ablat, data = bcg, method = method, test = test)
         else rma(yi, vi, data = bcg, method = method, test = test)
    call <- sprintf("rma(yi, vi, %sdata = bcg, method = '%s', test = '%s')",
      if (with_mods) "mods = ~ ablat, " else "", method, test)
    key <- paste(method, test, if (with_mods) "ablat" else "intercept", sep = "|")
    uni[[key]] <- list(call = call, beta = as.list(c(f$beta)), vcov = mat_rows(f$vb),
      tau2 = f$tau2, mods = if (with_mods) "ablat" else NULL,
      robust = list(alloc = robust_record(f, bcg$alloc)))
  }
}
uni_input <- list(yi = as.list(as.numeric(bcg$yi)), vi = as.list(as.numeric(bcg$vi)),
  ablat = as.list(bcg$ablat), alloc = as.list(as.character(bcg$alloc)),
  source = "escalc('RR', ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg); cluster = alloc")

# ---- the exact one-level optimum ---------------------------------------------------------
# rma.uni's Fisher scoring run to |change| < 1e-14: the exact REML/ML tau^2 of the model
# that rma.mv(random = ~ 1 | trial) fits to dat.bcg (one effect per trial).
exact <- list()
for (method in c("REML", "ML")) {
  f <- rma(yi, vi, data = bcg, method = method, control = list(threshold = 1e-14, maxiter = 1000))
  exact[[method]] <- list(call = sprintf("rma(yi, vi, data = bcg, method = '%s', control = list(threshold = 1e-14, maxiter = 1000))", method),
    tau2 = f$tau2, beta = c(f$beta), se = f$se)
}

# ---- vcalc -------------------------------------------------------------------------------

vc <- list(
  rho = list(call = "vcalc(vi, cluster, obs = effect, rho = 0.6, data = tc)", vi = as.list(tc$vi),
    cluster = as.list(tc$cluster), obs = as.list(tc$effect), rho = 0.6, V = mat_rows(Vtc)),
  phi = list(call = "vcalc(vi, cluster, time1 = logdays, phi = 0.8, data = tc)",
    vi = as.list(tc$vi), cluster = as.list(tc$cluster), time = as.list(tc$logdays),
    phi = 0.8, V = mat_rows(vcalc(vi, cluster = cluster, time1 = logdays, phi = 0.8, data = tc))),
  obs = list(call = "vcalc(vi, cluster, obs = obs, rho = 0.5)",
    vi = list(0.1, 0.2, 0.3, 0.1, 0.4), cluster = list(1, 1, 1, 2, 2),
    obs = list(1, 2, 1, 1, 1), rho = 0.5,
    V = mat_rows(vcalc(c(0.1, 0.2, 0.3, 0.1, 0.4), cluster = c(1, 1, 1, 2, 2),
      obs = c(1, 2, 1, 1, 1), rho = 0.5)))
)

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
  generated_by = "tests/reference/rma_mv_cases.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  clubsandwich_version = as.character(packageVersion("clubSandwich")),
  control = CTRL_CALL, confint_tol = CI_TOL,
  cases = results, rma_uni = list(input = uni_input, fits = uni), vcalc = vc,
  exact_one_level = exact
)
writeLines(to_json(out), "tests/reference/rma_mv.json")
cat("wrote tests/reference/rma_mv.json:", length(results), "rma.mv cases,",
  sum(vapply(results, function(r) length(r$fits), 1L)), "fits,", length(uni), "rma.uni fits\n")
