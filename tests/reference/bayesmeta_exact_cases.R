# Regenerates tests/reference/bayesmeta_exact.json: modes and shortest intervals of tau, mu
# and theta (the effect in a new trial), and medians, central intervals, modes and shortest
# intervals of the shrinkage estimates theta_i, all by quadrature in R, without bayesmeta's
# DIRECT grid, for the cases of bayesmeta_cases.R.
#
#   Rscript tests/reference/bayesmeta_exact_cases.R   (from the repository root, after
#                                                       bayesmeta_cases.R; 1-2 minutes)
#
# The posterior is written out here, vectorised over tau, and checked against bayesmeta:
#
#   p(tau | y) proportional to prior(tau) * prod_i (v_i + tau^2)^(-1/2) * S(tau)^(-1/2)
#              * exp(-R(tau) / 2),
#   with weights w_i = 1 / (v_i + tau^2) (plus 1 / s0^2 at m0 for a normal prior on mu),
#   S = sum w, m(tau) = sum w y / S, R = sum w (y - m)^2;
#   mu | tau, y ~ N(m, 1 / S); theta_new | tau, y ~ N(m, 1 / S + tau^2);
#   theta_i | tau, y ~ N((tau^2 y_i + v_i m) / (v_i + tau^2),
#                        v_i tau^2 / (v_i + tau^2) + (v_i / (v_i + tau^2))^2 / S).
#
# The normalised density is compared with bayesmeta's dposterior(tau) and the conditional
# moments with its cond.moment() (predict, individual) at a scan of tau; the run stops if
# they differ by more than 1e-9 (relative).
#
# Every integral over tau is integrate() on [0, median of tau] and [median, upper end]
# (upper end: Inf, or the uniform prior's bound), rel.tol 1e-12. Then:
# - quantiles: uniroot() on the CDF (a mixture of pnorm() over tau), tol 1e-13 * sd;
# - modes of mu, theta, theta_i: uniroot() on the derivative of the density (the integral
#   of dnorm() * (m - x) / s^2), bracketed by the central 95% interval, tol 1e-13 * sd;
# - mode of tau: the maximum of a scan of 2001 points on [0, q(0.999)] brackets it (at
#   tau = 0: 0 unless the log density rises just above 0), then uniroot() on the
#   derivative of the log density by the five-point central difference (step min(1e-3 * sd, tau / 4): error
#   about 1e-12 of the sd), tol 1e-13 * sd;
# - shortest 95% intervals: the p that minimises q(p + 0.95) - q(p) is where the density
#   is equal at both ends, solved by uniroot() on a: log f(a) - log f(q(F(a) + 0.95)), tol
#   1e-13 * sd (the same optimum as minimising the width over p, but a root, not a flat
#   minimum, so its ends are exact); for tau, [0, q(0.95)] when the density at 0 is at
#   least that at q(0.95), and [q(0.05), upper] at a bounded prior when the density at the
#   bound is at least that at q(0.05).
#
# Numbers are written with 17 significant digits; R and bayesmeta versions are recorded.

suppressPackageStartupMessages(library(bayesmeta))

ref <- jsonlite::fromJSON("tests/reference/bayesmeta.json", simplifyVector = TRUE)
LEVEL <- ref$level
REL <- 1e-12
XTOL <- 1e-13

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
  t0 <- proc.time()[["elapsed"]]
  cs <- ref$cases[[name]]
  y <- as.numeric(cs$yi)
  v <- as.numeric(cs$vi)
  k <- length(y)
  prior <- prior_fun(cs$tau_prior)
  upper <- if (cs$tau_prior$family == "uniform") cs$tau_prior$upper else Inf
  if (is.null(cs$mu_prior)) {
    yy <- y; vv <- v; tau_sel <- rep(TRUE, k)
  } else {
    # the normal prior on mu is a pseudo-trial at m0 with variance s0^2 and no tau
    yy <- c(y, cs$mu_prior$mean); vv <- c(v, cs$mu_prior$sd^2); tau_sel <- c(rep(TRUE, k), FALSE)
  }
  # conditional moments at a vector of tau: lists of m(tau), s2(tau)
  cond <- function(t) {
    var <- outer(rep(1, length(t)), vv) + outer(t^2, as.numeric(tau_sel))
    w <- 1 / var
    S <- rowSums(w)
    m <- as.numeric(w %*% yy) / S
    R <- rowSums(w * (outer(rep(1, length(t)), yy) - m)^2)
    ll <- -0.5 * (rowSums(log(var[, tau_sel, drop = FALSE])) + log(S) + R)
    list(m = m, s2 = 1 / S, loglik = ll)
  }
  logpost_un <- function(t) {
    out <- rep(-Inf, length(t))
    ok <- t >= 0 & t <= upper
    if (any(ok)) out[ok] <- log(prior(t[ok])) + cond(t[ok])$loglik
    out
  }
  # normalise: reference level from a scan, then integrate
  scan <- c(0, exp(seq(log(1e-6), log(50), length.out = 400)))
  scan <- scan[scan <= upper]
  lmax <- max(logpost_un(scan), na.rm = TRUE)
  raw <- function(t) exp(logpost_un(t) - lmax)
  integ0 <- function(f, lo, hi) integrate(f, lo, hi, rel.tol = REL, abs.tol = 0,
    subdivisions = 2000L)$value
  Z1 <- integ0(raw, 0, upper)
  # CDF of tau (for its median, then the split point of all integrals)
  ptau <- function(x) integ0(raw, 0, x) / Z1
  tmed <- uniroot(function(x) ptau(x) - 0.5, c(0, min(upper, 50)), tol = 1e-14)$root
  Z <- integ0(raw, 0, tmed) + integ0(raw, tmed, upper)
  dpost <- function(t) raw(t) / Z
  logdpost <- function(t) logpost_un(t) - lmax - log(Z)
  integ <- function(f, abs.tol = 0) {
    a <- integrate(f, 0, tmed, rel.tol = REL, abs.tol = abs.tol, subdivisions = 2000L)$value
    b <- integrate(f, tmed, upper, rel.tol = REL, abs.tol = abs.tol, subdivisions = 2000L)$value
    a + b
  }

  # ---- check against bayesmeta --------------------------------------------------------
  mu_prior <- if (is.null(cs$mu_prior)) c(NA, NA) else c(cs$mu_prior$mean, cs$mu_prior$sd)
  b <- bayesmeta(y, sqrt(v), tau.prior = prior, mu.prior = mu_prior)
  tchk <- c(0, 0.01, 0.1, 0.3, tmed, 0.7, 1.5)
  tchk <- tchk[tchk < upper]
  rel <- function(a, e) max(abs(a - e) / pmax(abs(e), 1e-300))
  dev <- rel(dpost(tchk), b$dposterior(tau = tchk))
  cm <- cond(tchk)
  bm <- matrix(b$cond.moment(tau = tchk), ncol = 2)
  dev <- max(dev, rel(cm$m, bm[, 1]), rel(sqrt(cm$s2), bm[, 2]))
  bp <- matrix(b$cond.moment(tau = tchk, predict = TRUE), ncol = 2)
  dev <- max(dev, rel(sqrt(cm$s2 + tchk^2), bp[, 2]))
  moments <- function(t, which) {
    cc <- cond(t)
    if (which == 0) return(list(m = cc$m, s = sqrt(cc$s2)))
    if (which == -1) return(list(m = cc$m, s = sqrt(cc$s2 + t^2)))
    i <- which; t2 <- t^2
    list(m = (t2 * y[i] + v[i] * cc$m) / (v[i] + t2),
      s = sqrt(v[i] * t2 / (v[i] + t2) + (v[i] / (v[i] + t2))^2 * cc$s2))
  }
  for (i in seq_len(k)) {
    bi <- matrix(b$cond.moment(tau = tchk, individual = i), ncol = 2)
    mi <- moments(tchk, i)
    dev <- max(dev, rel(mi$m, bi[, 1]), rel(mi$s, bi[, 2]))
  }
  if (!(dev < 1e-9)) stop(name, ": posterior differs from bayesmeta's by ", dev)

  # ---- generic summaries ----------------------------------------------------------------
  # shortest interval given cdf, quantile and log density; lo_end/hi_end: support bounds
  shortest <- function(cdf, qf, logf, xtol, lo_end = -Inf, hi_end = Inf) {
    if (is.finite(lo_end) && logf(lo_end) >= logf(qf(LEVEL))) return(c(lo_end, qf(LEVEL)))
    if (is.finite(hi_end) && logf(hi_end) >= logf(qf(1 - LEVEL))) return(c(qf(1 - LEVEL), hi_end))
    g <- function(a) logf(a) - logf(qf(cdf(a) + LEVEL))
    a <- uniroot(g, c(qf(1e-9), qf(1 - LEVEL - 1e-9)), tol = xtol)$root
    c(a, qf(cdf(a) + LEVEL))
  }

  mixture <- function(which, ref_part, idx = NULL) {
    mean0 <- if (is.null(idx)) ref_part$mean else ref_part$mean[idx]
    sd0 <- if (is.null(idx)) ref_part$sd else ref_part$sd[idx]
    if (!is.finite(sd0)) {
      # moments that diverge: take the scale from the spread of the conditional moments
      mm <- moments(tmed, which)
      mean0 <- mm$m; sd0 <- 3 * mm$s
    }
    xtol <- XTOL * sd0
    cdf <- function(x) integ(function(t) { mm <- moments(t, which)
      pnorm(x, mm$m, mm$s) * dpost(t) }, abs.tol = 1e-16)
    dens <- function(x) integ(function(t) { mm <- moments(t, which)
      dnorm(x, mm$m, mm$s) * dpost(t) })
    fscale <- 1 / sd0
    ddens <- function(x) integ(function(t) { mm <- moments(t, which)
      dnorm(x, mm$m, mm$s) * (mm$m - x) / mm$s^2 * dpost(t) }, abs.tol = 1e-16 * fscale / sd0)
    qf <- function(p) uniroot(function(x) cdf(x) - p, mean0 + c(-3, 3) * sd0,
      extendInt = "upX", tol = xtol)$root
    q <- vapply(c(0.5, (1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2), qf, 0)
    mode <- uniroot(ddens, q[2:3], tol = xtol)$root
    s <- shortest(cdf, qf, function(x) log(dens(x)), xtol)
    list(mode = mode, median = q[1], ci_low = q[2], ci_high = q[3],
      shortest_low = s[1], shortest_high = s[2])
  }

  # ---- tau -------------------------------------------------------------------------------------
  tau_sd <- cs$tau$sd
  if (!is.finite(tau_sd)) tau_sd <- tmed
  txtol <- XTOL * tau_sd
  qtau <- function(p) {
    if (p <= 0.5) uniroot(function(x) ptau(x) - p, c(0, tmed), tol = txtol)$root
    else uniroot(function(x) (1 - integ0(raw, x, upper) / Z1) - p, c(tmed, min(upper, 1e3 * tmed)),
      extendInt = if (is.finite(upper)) "no" else "upX", tol = txtol)$root
  }
  cdftau <- function(x) if (x <= tmed) ptau(x) else 1 - integ0(raw, x, upper) / Z1
  dlog <- function(t) { h <- min(1e-3 * tau_sd, t / 4)
    (logdpost(t - 2 * h) - 8 * logdpost(t - h) + 8 * logdpost(t + h) - logdpost(t + 2 * h)) /
      (12 * h) }
  # the maximum of a scan brackets the mode; at tau = 0 the mode is 0 unless the log
  # density still rises just above 0 (a mode below the scan's first step)
  grid <- seq(0, qtau(0.999), length.out = 2001)
  j <- which.max(logdpost(grid))
  if (j == 1) {
    tiny <- 1e-3 * grid[2]
    tau_mode <- if (dlog(tiny) > 0) uniroot(dlog, c(tiny, grid[2]), tol = txtol)$root else 0
  } else {
    tau_mode <- uniroot(dlog, grid[c(j - 1, j + 1)], tol = txtol)$root
  }
  ts <- shortest(cdftau, qtau, logdpost, txtol, lo_end = 0, hi_end = upper)
  tau <- list(mode = tau_mode, shortest_low = ts[1], shortest_high = ts[2])
  mu <- mixture(0, cs$mu)
  th <- mixture(-1, cs$theta_new)
  sh <- lapply(seq_len(k), function(i) mixture(i, cs$shrinkage, i))
  shrink <- lapply(names(sh[[1]]), function(f) vapply(sh, function(s) s[[f]], 0))
  names(shrink) <- names(sh[[1]])
  message(name, " done in ", round(proc.time()[["elapsed"]] - t0), " s (check ", signif(dev, 2), ")")
  list(tau = tau, mu = mu, theta_new = th, shrinkage = shrink, check_vs_bayesmeta = dev)
}

results <- parallel::mclapply(names(ref$cases), function(n)
  tryCatch(run_case(n), error = function(e) structure(conditionMessage(e), class = "try-error")),
  mc.cores = 2)
names(results) <- names(ref$cases)
failed <- vapply(results, function(r) !is.list(r) || inherits(r, "try-error"), TRUE)
if (any(failed)) stop("failed: ", paste(names(ref$cases)[failed], unlist(results[failed]),
  collapse = "; "))

num <- function(x) {
  s <- sprintf("%.17g", x)
  if (length(x) == 1) s else paste0("[", paste(s, collapse = ","), "]")
}
obj <- function(p) paste0("{", paste(sprintf('"%s":%s', names(p), vapply(p, num, "")),
  collapse = ","), "}")
body <- vapply(names(results), function(n) {
  r <- results[[n]]
  sprintf('"%s":{"tau":%s,"mu":%s,"theta_new":%s,"shrinkage":%s,"check_vs_bayesmeta":%s}', n,
    obj(r$tau), obj(r$mu), obj(r$theta_new), obj(r$shrinkage), num(r$check_vs_bayesmeta))
}, "")
calls <- c(
  integrate = sprintf("integrate(f, 0, median_tau) + integrate(f, median_tau, upper), rel.tol = %g, subdivisions = 2000", REL),
  quantile = sprintf("uniroot(function(x) cdf(x) - p, tol = %g * sd)", XTOL),
  mode = sprintf("uniroot(derivative of density, c(ci_low, ci_high), tol = %g * sd)", XTOL),
  tau_mode = sprintf("uniroot(five-point derivative of log dposterior, scan neighbours of the maximum, tol = %g * sd)", XTOL),
  shortest = sprintf("uniroot(function(a) log f(a) - log f(q(F(a) + level)), c(q(1e-9), q(1 - level - 1e-9)), tol = %g * sd)", XTOL))
writeLines(sprintf(paste0('{"generated_by":"tests/reference/bayesmeta_exact_cases.R",',
  '"r_version":"%s","bayesmeta_version":"%s","level":%s,"calls":{%s},"cases":{%s}}'),
  R.version.string, as.character(packageVersion("bayesmeta")), num(LEVEL),
  paste(sprintf('"%s":%s', names(calls), vapply(calls, function(s)
    as.character(jsonlite::toJSON(s, auto_unbox = TRUE)), "")), collapse = ","),
  paste(body, collapse = ",")), "tests/reference/bayesmeta_exact.json")
message("wrote tests/reference/bayesmeta_exact.json")
