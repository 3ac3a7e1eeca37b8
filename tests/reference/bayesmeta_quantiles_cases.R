# Regenerates tests/reference/bayesmeta_quantiles.json: exact quantiles of mu and of theta
# (the effect in a new trial) for the cases of bayesmeta_cases.R.
#
#   Rscript tests/reference/bayesmeta_quantiles_cases.R       (from the repository root,
#                                                                after bayesmeta_cases.R)
#
# bayesmeta_cases.R reads the quantiles of mu and theta off bayesmeta's DIRECT grid, whose
# discretisation moves the 2.5% and 97.5% quantiles by up to about 5e-5 of the posterior
# sd at delta = 1e-4. Here the CDF is computed without the grid: integrate() over tau of
# pnorm() at bayesmeta's conditional moments (cond.moment()) against its dposterior(tau),
# and uniroot() solves it (tolerance 1e-12). Same cases and versions as bayesmeta.json.

suppressPackageStartupMessages(library(bayesmeta))

ref <- jsonlite::fromJSON("tests/reference/bayesmeta.json", simplifyVector = TRUE)
LEVEL <- ref$level
prior_fun <- function(p) {
  switch(p$family,
    halfnormal = function(t) dhalfnormal(t, scale = p$scale),
    halfcauchy = function(t) dhalfcauchy(t, scale = p$scale),
    halft = function(t) dhalft(t, df = p$df, scale = p$scale),
    uniform = function(t) dunif(t, min = 0, max = p$upper),
    lognormal = function(t) dlnorm(t, meanlog = p$meanlog, sdlog = p$sdlog),
    turner = TurnerEtAlPrior(p$outcome, p$comparator1, p$comparator2)$dprior)
}

run_case <- function(name) {
  cs <- ref$cases[[name]]
  mu_prior <- if (is.null(cs$mu_prior)) c(NA, NA) else c(cs$mu_prior$mean, cs$mu_prior$sd)
  b <- bayesmeta(cs$yi, sqrt(cs$vi), tau.prior = prior_fun(cs$tau_prior), mu.prior = mu_prior)
  one <- function(predict, part) {
    cdf <- function(x) integrate(function(t) {
      m <- matrix(b$cond.moment(tau = t, predict = predict), ncol = 2)
      pnorm(x, m[, 1], m[, 2]) * b$dposterior(tau = t)
    }, 0, Inf, rel.tol = 1e-12, abs.tol = 0, subdivisions = 1000L)$value
    sd <- part$sd
    vapply(c(0.5, (1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2), function(p) {
      start <- part$median + c(-12, 12) * sd
      uniroot(function(x) cdf(x) - p, start, tol = 1e-12 * sd)$root
    }, 0)
  }
  q_mu <- one(FALSE, cs$mu)
  q_theta <- one(TRUE, cs$theta_new)
  message(name, " done")
  list(mu = list(median = q_mu[1], ci_low = q_mu[2], ci_high = q_mu[3]),
    theta_new = list(median = q_theta[1], ci_low = q_theta[2], ci_high = q_theta[3]))
}

results <- parallel::mclapply(names(ref$cases), run_case, mc.cores = 3)
names(results) <- names(ref$cases)
failed <- vapply(results, inherits, TRUE, what = "try-error")
if (any(failed)) stop("failed: ", paste(names(ref$cases)[failed], collapse = ", "))

num <- function(x) sprintf("%.17g", x)
part_json <- function(p) sprintf('{"median":%s,"ci_low":%s,"ci_high":%s}', num(p$median),
  num(p$ci_low), num(p$ci_high))
body <- vapply(names(results), function(n) sprintf('"%s":{"mu":%s,"theta_new":%s}', n,
  part_json(results[[n]]$mu), part_json(results[[n]]$theta_new)), "")
writeLines(sprintf(paste0('{"generated_by":"tests/reference/bayesmeta_quantiles_cases.R",',
  '"r_version":"%s","bayesmeta_version":"%s","level":%s,"cases":{%s}}'),
  R.version.string, as.character(packageVersion("bayesmeta")), num(LEVEL),
  paste(body, collapse = ",")), "tests/reference/bayesmeta_quantiles.json")
message("wrote tests/reference/bayesmeta_quantiles.json")
