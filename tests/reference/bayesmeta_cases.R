# Regenerates tests/reference/bayesmeta.json: bayesmeta results for ketameta.bayesmeta().
#
#   Rscript tests/reference/bayesmeta_cases.R            (from the repository root)
#
# bayesmeta 3.4 is not packaged by Debian. It was built from the source packages of the
# CRAN packages forestplot 3.1.6 and bayesmeta 3.4 (unpacked source trees of those
# versions), after installing their Debian-packaged dependencies:
#
#   apt-get install -y r-cran-metafor r-cran-checkmate r-cran-abind r-cran-mvtnorm \
#     r-cran-numderiv r-cran-jsonlite
#   R CMD INSTALL forestplot        # source tree of forestplot 3.1.6
#   R CMD INSTALL bayesmeta         # source tree of bayesmeta 3.4
#
# What is pinned, and how exactly:
#
# - tau: bayesmeta's own values. Its mean, sd and marginal likelihood are integrate()
#   results (rel.tol 2^16 * eps), its quantiles uniroot() on integrate() (tol 1.5e-11).
#   bayesmeta finds the mode and the shortest interval with optimize() at its default
#   tolerance (about 1e-4); both are solved again here with tolerance 1e-12 on
#   bayesmeta's dposterior() (the shortest interval as the level set of the density that
#   holds 95%).
# - mu, theta (prediction) and the shrinkage estimates: means, standard deviations and
#   P(mu < 0) are integrate() results over tau of the conditional moments (bayesmeta's
#   cond.moment()) against its dposterior(tau), so they are exact. Quantiles, modes and
#   shortest intervals come from bayesmeta's DIRECT discretisation: a normal mixture over
#   a grid of tau values (its support and cond.moment()), solved here with tolerance
#   1e-12. Its default grid (delta = 0.01, epsilon = 1e-4) leaves errors of about 1e-3 of
#   the posterior sd in quantiles (and 1e-2 in its own standard deviations); the grid is
#   tightened to delta = 1e-4, epsilon = 1e-9, which still moves tail quantiles, modes and
#   shortest intervals by up to about 1e-4 of the posterior sd (delta = 1e-5 costs ten
#   times the run time). bayesmeta_quantiles_cases.R therefore computes the quantiles of
#   mu and theta again without the grid, and bayesmeta_exact_cases.R the modes and
#   shortest intervals of tau, mu and theta and every summary of the shrinkage estimates;
#   the grid values here are kept as bayesmeta's own output.
# - bayesmeta's shrinkage mode searches the interval between the 10% and 90% quantiles
#   of mu, not of the trial's own posterior; where the trial's mode lies outside it,
#   bayesmeta returns the bracket's end. That value is not pinned; the mode pinned here is
#   searched between the trial's own 10% and 90% quantiles.
# - default: bayesmeta's summary with its default settings, for a loose check that the
#   same package with its default accuracy agrees (within its grid error).
#
# Numbers are written with 17 significant digits; R, metafor and bayesmeta versions are
# recorded.

suppressPackageStartupMessages({
  library(metafor)
  library(bayesmeta)
})

DELTA <- 1e-4
EPSILON <- 1e-9
LEVEL <- 0.95
TOL <- 1e-12

cases <- list()
add_case <- function(name, yi, vi, tau_prior, mu_prior, source) {
  cases[[name]] <<- list(yi = as.numeric(yi), vi = as.numeric(vi), tau_prior = tau_prior,
    mu_prior = mu_prior, source = source)
}

prior_fun <- function(p) {
  switch(p$family,
    halfnormal = function(t) dhalfnormal(t, scale = p$scale),
    halfcauchy = function(t) dhalfcauchy(t, scale = p$scale),
    halft = function(t) dhalft(t, df = p$df, scale = p$scale),
    uniform = function(t) dunif(t, min = 0, max = p$upper),
    lognormal = function(t) dlnorm(t, meanlog = p$meanlog, sdlog = p$sdlog),
    turner = TurnerEtAlPrior(p$outcome, p$comparator1, p$comparator2)$dprior)
}

hn <- function(s) list(family = "halfnormal", scale = s)

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
add_case("bcg_halfnormal", bcg$yi, bcg$vi, hn(0.5), NULL,
  'escalc("RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)')
add_case("bcg_turner_normal_mu", bcg$yi, bcg$vi,
  list(family = "turner", outcome = "infection / onset of new disease",
    comparator1 = "pharmacological", comparator2 = "placebo / control"),
  c(0, 4), 'escalc("RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)')

li <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.li2007)
li <- li[!is.na(li$yi), ]
add_case("li2007_halfcauchy_normal_mu", li$yi, li$vi,
  list(family = "halfcauchy", scale = 0.5), c(0, 10),
  'escalc("OR", ai, n1i, ci, n2i, data=dat.li2007) (add=1/2 to="only0"; NA rows dropped)')

kon <- escalc(yi = yi, vi = vi, data = dat.konstantopoulos2011)
kon <- aggregate(kon, cluster = district, struct = "ID")
add_case("konstantopoulos2011_by_district_halft", kon$yi, kon$vi,
  list(family = "halft", scale = 0.5, df = 3), NULL,
  'aggregate(escalc(yi=yi, vi=vi, data=dat.konstantopoulos2011), cluster=district, struct="ID")')

nor <- escalc(measure = "SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
  n2i = n2i, data = dat.normand1999)
add_case("normand1999_uniform", nor$yi, nor$vi, list(family = "uniform", upper = 3), NULL,
  'escalc("SMD", m1i, sd1i, n1i, m2i, sd2i, n2i, data=dat.normand1999)')

z <- qnorm(0.975)
add_case("two_trials_halfnormal", c(-1.39, -1.02),
  (c(-0.87 - -1.92, -0.51 - -1.53) / (2 * z))^2, hn(0.5), NULL,
  "two SMDs reported as -1.39 [-1.92, -0.87] and -1.02 [-1.53, -0.51]; vi from the 95% CI")
add_case("k3_halfnormal_normal_mu", c(-0.45, -0.10, -0.62), c(0.040, 0.065, 0.090), hn(0.5),
  c(0, 4), "synthetic: k = 3")
add_case("k4_lognormal", c(0.31, 0.05, 0.52, 0.18), c(0.020, 0.030, 0.045, 0.025),
  list(family = "lognormal", meanlog = -1.5, sdlog = 1), NULL, "synthetic: k = 4")
add_case("k1_halfnormal", 0.4, 0.09, hn(0.5), NULL, "synthetic: k = 1")
add_case("k1_uniform_normal_mu", -0.2, 0.05, list(family = "uniform", upper = 2), c(0, 2),
  "synthetic: k = 1, proper priors")
add_case("homogeneous_halfcauchy", c(0.30, 0.32, 0.28, 0.31, 0.29, 0.305),
  c(0.02, 0.03, 0.025, 0.04, 0.018, 0.05), list(family = "halfcauchy", scale = 0.25), NULL,
  "synthetic: Q < k - 1 (tau^2 estimate 0)")
add_case("identical_effects_halfnormal", rep(0.25, 5), c(0.01, 0.04, 0.02, 0.09, 0.05),
  hn(0.5), NULL, "synthetic: all yi equal")

# ---- exact summaries ------------------------------------------------------------------

integ <- function(f) integrate(f, 0, Inf, rel.tol = 1e-12, abs.tol = 0,
  subdivisions = 1000L)$value

mixture_summary <- function(b, predict = FALSE, individual = FALSE) {
  dpost <- function(t) b$dposterior(tau = t)
  cm <- function(t) {
    r <- b$cond.moment(tau = t, predict = predict, individual = individual)
    matrix(r, ncol = 2)
  }
  mean <- integ(function(t) cm(t)[, 1] * dpost(t))
  second <- integ(function(t) { m <- cm(t); (m[, 2]^2 + (m[, 1] - mean)^2) * dpost(t) })
  # bayesmeta's DIRECT mixture (support weights and conditional moments), evaluated
  # vectorised here: the same function as its pposterior()/dposterior(), only faster.
  w <- b$support[, "weight"]
  comp <- matrix(b$cond.moment(tau = b$support[, "tau"], predict = predict,
    individual = individual), ncol = 2)
  pfun <- function(x) vapply(x, function(e) sum(w * pnorm(e, comp[, 1], comp[, 2])), 0)
  dfun <- function(x) vapply(x, function(e) sum(w * dnorm(e, comp[, 1], comp[, 2])), 0)
  lo <- min(comp[, 1] - 40 * comp[, 2])
  hi <- max(comp[, 1] + 40 * comp[, 2])
  qfun <- function(p) vapply(p, function(e)
    uniroot(function(x) pfun(x) - e, c(lo, hi), tol = TOL)$root, 0)
  q <- qfun(c(0.5, (1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2))
  mode <- optimize(dfun, qfun(c(0.1, 0.9)), maximum = TRUE, tol = TOL)$maximum
  g <- function(a) log(dfun(a)) - log(dfun(qfun(LEVEL + pfun(a))))
  a <- uniroot(g, c(qfun(1e-7), qfun(1 - LEVEL - 1e-7)), tol = TOL)$root
  list(mode = mode, median = q[1], mean = mean, sd = sqrt(second),
    ci_low = q[2], ci_high = q[3], shortest_low = a, shortest_high = qfun(LEVEL + pfun(a)))
}

tau_summary <- function(b) {
  dpost <- function(t) b$dposterior(tau = t)
  q <- b$qposterior(tau.p = c(0.5, (1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2, LEVEL, 1 - LEVEL))
  opt <- optimize(dpost, c(0, q[1] * 4), maximum = TRUE, tol = TOL)
  mode <- if (dpost(0) >= opt$objective) 0 else opt$maximum
  if (dpost(0) >= dpost(q[4])) {
    short <- c(0, q[4])
  } else {
    # the shortest interval is a level set {tau: dpost(tau) >= lambda} holding LEVEL
    # (the level set at the smaller density of the central interval's ends holds more)
    lambda_lo <- max(dpost(0) * (1 + 1e-9), min(dpost(q[2]), dpost(q[3])))
    right <- q[3]
    while (dpost(right) > lambda_lo) right <- 2 * right
    ends <- function(lambda) c(
      uniroot(function(t) dpost(t) - lambda, c(0, mode), tol = TOL)$root,
      uniroot(function(t) dpost(t) - lambda, c(mode, right), tol = TOL)$root)
    mass <- function(lambda) {
      e <- ends(lambda)
      integrate(dpost, e[1], e[2], rel.tol = 1e-12)$value - LEVEL
    }
    lambda <- uniroot(mass, c(lambda_lo, dpost(mode) * (1 - 1e-9)), tol = 1e-14)$root
    short <- ends(lambda)
  }
  list(mode = mode, median = q[1], mean = b$summary["mean", "tau"], sd = b$summary["sd", "tau"],
    ci_low = q[2], ci_high = q[3], shortest_low = short[1], shortest_high = short[2])
}

run_case <- function(name) {
  cs <- cases[[name]]
  mu_prior <- if (is.null(cs$mu_prior)) c(NA, NA) else cs$mu_prior
  fit <- function(...) bayesmeta(cs$yi, sqrt(cs$vi), tau.prior = prior_fun(cs$tau_prior),
    mu.prior = mu_prior, ...)
  t0 <- proc.time()[["elapsed"]]
  b <- fit(delta = DELTA, epsilon = EPSILON)
  default <- fit()
  k <- length(cs$yi)
  shrink <- lapply(seq_len(k), function(i) mixture_summary(b, individual = i))
  pneg <- integ(function(t) {
    m <- matrix(b$cond.moment(tau = t), ncol = 2)
    pnorm(0, m[, 1], m[, 2]) * b$dposterior(tau = t)
  })
  mu <- mixture_summary(b)
  res <- list(
    source = cs$source, yi = cs$yi, vi = cs$vi, tau_prior = cs$tau_prior,
    mu_prior = if (is.null(cs$mu_prior)) NULL else list(mean = cs$mu_prior[1], sd = cs$mu_prior[2]),
    call = sprintf("bayesmeta(yi, sqrt(vi), tau.prior=%s, mu.prior=c(%s), delta=%g, epsilon=%g)",
      deparse1(body(prior_fun(cs$tau_prior))), paste(mu_prior, collapse = ", "), DELTA, EPSILON),
    tau = tau_summary(b), mu = mu, theta_new = mixture_summary(b, predict = TRUE),
    shrinkage = lapply(names(shrink[[1]]), function(f) vapply(shrink, function(s) s[[f]], 0)),
    prob_mu_negative = pneg, prob_mu_negative_direct = b$pposterior(mu = 0),
    marginal_likelihood = as.numeric(b$marginal.likelihood),
    bayesmeta_shrinkage_mode = unname(b$theta["mode", ]),
    default = list(tau = unname(default$summary[, "tau"]), mu = unname(default$summary[, "mu"]),
      theta = unname(default$summary[, "theta"]), rows = rownames(default$summary))
  )
  names(res$shrinkage) <- names(shrink[[1]])
  message(name, " done in ", round(proc.time()[["elapsed"]] - t0), " s")
  res
}

# the cases are independent: three at a time (a few minutes in all)
results <- parallel::mclapply(names(cases), run_case, mc.cores = 3)
names(results) <- names(cases)
failed <- vapply(results, inherits, TRUE, what = "try-error")
if (any(failed)) stop("failed: ", paste(names(cases)[failed], collapse = ", "), "\n",
  paste(unlist(results[failed]), collapse = "\n"))

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
  num <- vapply(as.numeric(x), function(e) {
    if (is.na(e)) "null" else if (is.infinite(e)) (if (e > 0) "\"Inf\"" else "\"-Inf\"")
    else sprintf("%.17g", e)
  }, "")
  if (length(x) == 1) return(num)
  paste0("[", paste(num, collapse = ","), "]")
}

out <- list(
  generated_by = "tests/reference/bayesmeta_cases.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  bayesmeta_version = as.character(packageVersion("bayesmeta")),
  level = LEVEL, delta = DELTA, epsilon = EPSILON,
  cases = results
)
writeLines(to_json(out), "tests/reference/bayesmeta.json")
cat("wrote tests/reference/bayesmeta.json:", length(results), "cases\n")
