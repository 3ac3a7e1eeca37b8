# Regenerates tests/reference/proportions.json: metafor's pooled proportions (logit scale,
# random effects) that ketameta.proportions.arm_proportions must reproduce for each arm.
#
# Usage (from the repository root):
#     Rscript tests/reference/proportions_cases.R tests/reference/proportions.json
#
# Exact calls, for each case and each (method, test):
#   res <- rma(xi = events, ni = n, measure = "PLO", method = method, test = test,
#              control = list(threshold = 1e-13, maxiter = 1e4, tol = 1e-15))
#   pr  <- predict(res, transf = transf.ilogit)
# The control list makes REML and PM converge to the exact optimum (ketameta's default);
# "default" repeats each fit with metafor's own stopping rules (threshold 1e-5), the
# values an engine that stops where metafor stops reproduces.
# escalc's PLO defaults apply (add = 1/2 to arms with 0 or n events, to = "only0").
# k = 1 uses rma(..., method = "EE"), which metafor also switches to (test "z").
# Numbers are written with 17 significant digits; the R and metafor versions under "meta".

suppressPackageStartupMessages(library(metafor))

args <- commandArgs(trailingOnly = TRUE)
out_path <- if (length(args) >= 1) args[1] else "tests/reference/proportions.json"

num <- function(x) ifelse(is.finite(x), sprintf("%.17g", x), "null")
vec <- function(x) paste0("[", paste(num(x), collapse = ", "), "]")

cases <- list(
  # arm data of the shipped TRD response at 24 h (Daly 2018 combined arms, Murrough 2013)
  # and of synthetic trials with a zero and an all-events arm
  trd_like = list(events = c(12, 6, 4, 30, 9), n = c(20, 18, 8, 47, 25)),
  zero_arm = list(events = c(0, 0, 3, 10), n = c(18, 7, 20, 40)),
  all_events = list(events = c(15, 20, 11), n = c(15, 25, 30)),
  two = list(events = c(12, 33), n = c(20, 47)),
  one = list(events = c(6), n = c(18))
)
settings <- list(c("REML", "knha"), c("REML", "z"), c("DL", "z"), c("PM", "adhoc"))

entries <- c()
for (name in names(cases)) {
  d <- cases[[name]]
  for (s in settings) {
    method <- if (length(d$events) == 1) "EE" else s[1]
    test <- if (length(d$events) == 1) "z" else s[2]
    res <- rma(xi = d$events, ni = d$n, measure = "PLO", method = method, test = test,
               control = list(threshold = 1e-13, maxiter = 1e4, tol = 1e-15))
    pr <- predict(res, transf = transf.ilogit)
    def <- rma(xi = d$events, ni = d$n, measure = "PLO", method = method, test = test)
    dpr <- predict(def, transf = transf.ilogit)
    call <- sprintf(paste0('rma(xi=c(%s), ni=c(%s), measure="PLO", method="%s", test="%s", ',
                           'control=list(threshold=1e-13, maxiter=1e4, tol=1e-15))'),
                    paste(d$events, collapse = ","), paste(d$n, collapse = ","), method, test)
    entries <- c(entries, sprintf(paste0(
      '    {"case": "%s", "method": "%s", "test": "%s", "events": %s, "n": %s,\n',
      '     "call": "%s",\n',
      '     "estimate": %s, "ci_low": %s, "ci_high": %s, "tau2": %s,\n',
      '     "proportion": %s, "proportion_ci_low": %s, "proportion_ci_high": %s,\n',
      '     "default": {"estimate": %s, "ci_low": %s, "ci_high": %s, "tau2": %s, ',
      '"proportion": %s, "proportion_ci_low": %s, "proportion_ci_high": %s}}'),
      name, s[1], s[2], vec(d$events), vec(d$n), gsub('"', '\\\\"', call),
      num(res$b[1]), num(res$ci.lb), num(res$ci.ub), num(res$tau2),
      num(pr$pred), num(pr$ci.lb), num(pr$ci.ub),
      num(def$b[1]), num(def$ci.lb), num(def$ci.ub), num(def$tau2),
      num(dpr$pred), num(dpr$ci.lb), num(dpr$ci.ub)))
  }
}
meta <- sprintf('{"R": "%s", "metafor": "%s"}', R.version.string, packageVersion("metafor"))
writeLines(c("{", sprintf('  "meta": %s,', meta), '  "cases": [',
             paste(entries, collapse = ",\n"), "  ]", "}"), out_path)
