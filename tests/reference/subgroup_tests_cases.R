# Regenerates tests/reference/subgroup_tests.json: metafor's subgroup fits and test for
# subgroup differences (separate tau^2 per subgroup, as RevMan and the Cochrane Handbook
# section 10.11.3.1) that ketameta.subgrouping.subgroup_blocks must reproduce.
#
# Usage (from the repository root):
#     Rscript tests/reference/subgroup_tests_cases.R tests/reference/subgroup_tests.json
#
# Exact calls, for each case, each (method, test) and each subgroup g:
#   fit_g <- rma(yi, vi, method = method, test = test, subset = group == g,
#                control = list(threshold = 1e-13, maxiter = 1e4, tol = 1e-15))
#   Q     <- rma(yi = est_g, sei = se_g, method = "EE")   # QE, k - 1 df, QEp
# The control list makes REML and PM converge to the exact optimum (ketameta's default).
# A subgroup of one trial is that trial (metafor switches to the z test for k = 1).
# Numbers are written with 17 significant digits; the R and metafor versions under "meta".

suppressPackageStartupMessages(library(metafor))

args <- commandArgs(trailingOnly = TRUE)
out_path <- if (length(args) >= 1) args[1] else "tests/reference/subgroup_tests.json"

num <- function(x) ifelse(is.finite(x), sprintf("%.17g", x), "null")
vec <- function(x) paste0("[", paste(num(x), collapse = ", "), "]")
svec <- function(x) paste0("[", paste0('"', x, '"', collapse = ", "), "]")

cases <- list(
  # SMDs of IV ketamine and IN esketamine trials (values of the kind the TRD data hold)
  route = list(
    yi = c(-0.82, -1.10, -0.45, -0.30, -0.52, -0.38, -0.21),
    vi = c(0.110, 0.060, 0.030, 0.020, 0.065, 0.025, 0.018),
    group = c("IV", "IV", "IV", "IN", "IN", "IN", "IN")),
  # three subgroups, one of them a single trial
  single = list(
    yi = c(-0.9, -0.6, -0.4, -0.35, -1.2),
    vi = c(0.08, 0.05, 0.03, 0.04, 0.2),
    group = c("active control", "active control", "inert control", "inert control", "oral"))
)
settings <- list(c("REML", "knha"), c("REML", "z"), c("DL", "z"))

entries <- c()
for (name in names(cases)) {
  d <- cases[[name]]
  labels <- unique(d$group)
  for (s in settings) {
    fits <- lapply(labels, function(g) rma(d$yi, d$vi, method = s[1], test = s[2],
      subset = d$group == g, control = list(threshold = 1e-13, maxiter = 1e4, tol = 1e-15)))
    est <- sapply(fits, function(f) f$b[1])
    se <- sapply(fits, function(f) f$se)
    q <- rma(yi = est, sei = se, method = "EE")
    groups <- sapply(seq_along(labels), function(j) sprintf(
      '{"label": "%s", "k": %d, "estimate": %s, "se": %s, "ci_low": %s, "ci_high": %s, "p_value": %s, "tau2": %s}',
      labels[j], fits[[j]]$k, num(est[j]), num(se[j]), num(fits[[j]]$ci.lb),
      num(fits[[j]]$ci.ub), num(fits[[j]]$pval), num(fits[[j]]$tau2)))
    entries <- c(entries, sprintf(paste0(
      '    {"case": "%s", "method": "%s", "test": "%s",\n',
      '     "yi": %s, "vi": %s, "group": %s,\n',
      '     "groups": [%s],\n',
      '     "Q_between": %s, "Q_between_df": %d, "Q_between_p": %s}'),
      name, s[1], s[2], vec(d$yi), vec(d$vi), svec(d$group),
      paste(groups, collapse = ",\n                "), num(q$QE), q$k - 1L, num(q$QEp)))
  }
}
meta <- sprintf('{"R": "%s", "metafor": "%s"}', R.version.string, packageVersion("metafor"))
writeLines(c("{", sprintf('  "meta": %s,', meta), '  "cases": [',
             paste(entries, collapse = ",\n"), "  ]", "}"), out_path)
