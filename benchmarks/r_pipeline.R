#!/usr/bin/env Rscript
# The R side of the pipeline benchmark: what an analyst would write by hand with metafor to
# produce the same analyses and figures as `snakemake` on the shipped data. It reads the
# CSVs, selects each configured analysis's rows (condition, outcome, time point, minus its
# exclusions), computes effect sizes (escalc for arm data; reported effects converted to the
# analysis scale), fits rma() with confint() and predict(), runs regtest(), ranktest(),
# trimfill(), leave1out() and influence(), draws an SVG forest() and funnel() per analysis,
# and writes one HTML page per condition with the figures inline.
#
# It does the same work, not byte-for-byte the same numbers: multi-arm trials are not
# combined and crossover details are not modelled, which changes no amount of computation.
#
# Usage: Rscript benchmarks/r_pipeline.R <project dir> <output dir>
suppressPackageStartupMessages({
  library(metafor)
  library(yaml)
})

args <- commandArgs(trailingOnly = TRUE)
project <- if (length(args) >= 1) args[[1]] else "."
out <- if (length(args) >= 2) args[[2]] else file.path(tempdir(), "r-reports")
dir.create(out, showWarnings = FALSE, recursive = TRUE)

config <- yaml::read_yaml(file.path(project, "config", "config.yaml"))
data_dir <- file.path(project, if (is.null(config$data_dir)) "data/raw" else config$data_dir)
files <- list.files(data_dir, pattern = "\\.csv$", full.names = TRUE, recursive = TRUE)
tables <- lapply(files, function(f) {
  d <- read.csv(f, stringsAsFactors = FALSE, check.names = FALSE, colClasses = "character")
  d$source_file <- f
  d
})
all_columns <- unique(unlist(lapply(tables, names)))
rows <- do.call(rbind, lapply(tables, function(d) {
  for (col in setdiff(all_columns, names(d))) d[[col]] <- NA_character_
  d[all_columns]
}))
columns <- c("n_treat", "mean_treat", "sd_treat", "n_ctrl", "mean_ctrl", "sd_ctrl",
             "events_treat", "events_ctrl", "yi", "vi", "sei", "ci_low", "ci_high")
for (col in columns) {
  if (!col %in% names(rows)) rows[[col]] <- NA_real_
  rows[[col]] <- suppressWarnings(as.numeric(rows[[col]]))
}
for (col in c("effect_type", "timepoint", "condition", "outcome", "study")) {
  if (!col %in% names(rows)) rows[[col]] <- NA_character_
  rows[[col]] <- as.character(rows[[col]])
}

method_of <- function(a) {
  profile <- if (is.null(config$profile)) "cochrane" else config$profile
  defaults <- switch(profile,
    cochrane = list(method = "REML", test = "knha"),
    metafor = list(method = "REML", test = "z"),
    revman5 = list(method = "DL", test = "z"),
    iqwig = list(method = "PM", test = "adhoc"))
  list(method = if (is.null(a$method)) defaults$method else a$method,
       test = if (is.null(a$test)) defaults$test else a$test)
}

reported <- function(d) {
  # Reported effects on the analysis scale: logs of natural ratios, SE from the CI.
  ratio <- d$effect_type %in% c("RR", "OR", "HR")
  yi <- ifelse(ratio, log(d$yi), d$yi)
  lo <- ifelse(ratio, log(d$ci_low), d$ci_low)
  hi <- ifelse(ratio, log(d$ci_high), d$ci_high)
  se <- ifelse(!is.na(d$sei), d$sei, ifelse(!is.na(d$vi), sqrt(d$vi), (hi - lo) / (2 * qnorm(0.975))))
  is_d <- d$effect_type %in% "d" & !is.na(d$n_treat) & !is.na(d$n_ctrl)
  J <- ifelse(is_d, 1 - 3 / (4 * (d$n_treat + d$n_ctrl - 2) - 1), 1)
  data.frame(yi = yi * J, vi = (se * J)^2)
}

effects_of <- function(d, measure) {
  arm <- is.na(d$effect_type) | d$effect_type == ""
  parts <- list()
  if (any(arm)) {
    a <- d[arm, ]
    es <- if (measure %in% c("SMD", "MD")) {
      escalc(measure, m1i = mean_treat, sd1i = sd_treat, n1i = n_treat,
             m2i = mean_ctrl, sd2i = sd_ctrl, n2i = n_ctrl, data = a)
    } else if (measure %in% c("PLO", "PFT", "PR")) {
      escalc(measure, xi = events_treat, ni = n_treat, data = a)
    } else {
      escalc(measure, ai = events_treat, n1i = n_treat, ci = events_ctrl, n2i = n_ctrl, data = a)
    }
    parts[[1]] <- data.frame(study = a$study, yi = as.numeric(es$yi), vi = as.numeric(es$vi))
  }
  if (any(!arm)) {
    r <- reported(d[!arm, ])
    parts[[2]] <- data.frame(study = d$study[!arm], yi = r$yi, vi = r$vi)
  }
  out <- do.call(rbind, parts)
  out[is.finite(out$yi) & is.finite(out$vi) & out$vi > 0, ]
}

svg_of <- function(draw) {
  path <- tempfile(fileext = ".svg")
  svg(path, width = 8, height = 6)
  draw()
  invisible(dev.off())
  paste(readLines(path, warn = FALSE), collapse = "\n")
}

pages <- list()
for (id in names(config$analyses)) {
  a <- config$analyses[[id]]
  sel <- rows[rows$condition == a$condition & rows$outcome == a$outcome &
                rows$timepoint == a$timepoint, ]
  if (!is.null(a$exclude)) sel <- sel[!sel$study %in% names(a$exclude), ]
  es <- effects_of(sel, a$measure)
  m <- method_of(a)
  html <- sprintf("<h2>%s</h2>", id)
  if (nrow(es) >= 2) {
    fit <- rma(yi, vi, data = es, method = m$method, test = m$test, slab = es$study)
    ci <- confint(fit)
    pred <- predict(fit)
    eg <- tryCatch(regtest(fit, model = "lm"), error = function(e) NULL)
    rk <- tryCatch(ranktest(fit), error = function(e) NULL)
    tf <- tryCatch(trimfill(fit), error = function(e) NULL)
    l1 <- leave1out(fit)
    inf <- influence(fit)
    forest_svg <- svg_of(function() forest(fit, addpred = TRUE, header = TRUE))
    funnel_svg <- svg_of(function() funnel(fit, level = c(90, 95, 99), shade = c("white", "gray55", "gray75")))
    html <- paste0(html, sprintf("<p>estimate %.4f [%.4f, %.4f], tau2 %.4f, PI [%.4f, %.4f]</p>",
                                 fit$b[1], fit$ci.lb, fit$ci.ub, fit$tau2, pred$pi.lb, pred$pi.ub),
                   forest_svg, funnel_svg)
  } else if (nrow(es) == 1) {
    html <- paste0(html, sprintf("<p>one trial: %.4f</p>", es$yi))
  }
  pages[[a$condition]] <- c(pages[[a$condition]], html)
}
for (condition in names(pages)) {
  writeLines(c("<!DOCTYPE html><html><body>", pages[[condition]], "</body></html>"),
             file.path(out, paste0(condition, ".html")))
}
writeLines(c("<!DOCTYPE html><html><body><ul>",
             sprintf("<li><a href='%s.html'>%s</a></li>", names(pages), names(pages)),
             "</ul></body></html>"), file.path(out, "index.html"))
