#!/usr/bin/env Rscript
# The R side of the pipeline benchmark (benchmarks/pipeline.sh): what an analyst would write
# by hand with metafor to produce the same analyses and figures as `snakemake` on a project.
#
# It reads the list of analyses the pipeline fits (written by benchmarks/resolve.py: the
# configured analyses and the ones the pipeline plans for every condition x outcome x time
# point, each with its measure, tau^2 estimator, test, level, exclusions and escalc()
# options), reads the CSVs, selects each analysis's rows (condition, outcome, time point,
# minus its exclusions), computes effect sizes (escalc() for arm data; reported effects
# converted to the analysis scale), fits rma() with confint() and predict(), runs
# regtest(), ranktest(), trimfill(), leave1out() and influence(), draws an SVG forest() and
# a contour-enhanced funnel() per analysis, and writes one HTML page per condition with the
# numbers and the figures inline, and an index page.
#
# It does the same work, not byte-for-byte the same numbers: multi-arm trials are not
# combined and crossover details are not modelled, which changes no amount of computation.
# A fit that fails with the configured estimator is refitted with DerSimonian-Laird.
#
# Usage: Rscript benchmarks/r_pipeline.R <project dir> <analyses.json> <output dir>
usage <- "usage: Rscript benchmarks/r_pipeline.R <project dir> <analyses.json> <output dir>"
args <- commandArgs(trailingOnly = TRUE)
if (length(args) >= 1 && args[[1]] %in% c("-h", "--help")) {
  cat(usage, "\n", sep = "")
  quit(status = 0)
}
if (length(args) != 3) {
  cat(usage, "\n", sep = "", file = stderr())
  quit(status = 2)
}
project <- args[[1]]
listing <- args[[2]]
out <- args[[3]]
for (path in c(project, listing)) {
  if (!file.exists(path)) {
    cat("r_pipeline.R: ", path, " not found\n", sep = "", file = stderr())
    quit(status = 2)
  }
}

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})
dir.create(out, showWarnings = FALSE, recursive = TRUE)

plan <- jsonlite::fromJSON(listing, simplifyVector = FALSE)
data_dir <- file.path(project, plan$data_dir)
files <- list.files(data_dir, pattern = "\\.csv$", full.names = TRUE, recursive = TRUE,
                    ignore.case = TRUE)
tables <- lapply(files, function(f) {
  read.csv(f, stringsAsFactors = FALSE, check.names = FALSE, colClasses = "character",
           encoding = "UTF-8")
})
all_columns <- unique(unlist(lapply(tables, names)))
rows <- do.call(rbind, lapply(tables, function(d) {
  for (col in setdiff(all_columns, names(d))) d[[col]] <- NA_character_
  d[all_columns]
}))
numeric_columns <- c("n_treat", "mean_treat", "sd_treat", "n_ctrl", "mean_ctrl", "sd_ctrl",
                     "events_treat", "events_ctrl", "yi", "vi", "sei", "ci_low", "ci_high",
                     "ci_level")
for (col in numeric_columns) {
  if (!col %in% names(rows)) rows[[col]] <- NA_character_
  rows[[col]] <- suppressWarnings(as.numeric(rows[[col]]))
}
for (col in c("effect_type", "year")) {
  if (!col %in% names(rows)) rows[[col]] <- NA_character_
}
rows$effect_type[!is.na(rows$effect_type) & rows$effect_type == ""] <- NA_character_
# the rows of each condition x outcome x time point, found once
by_question <- split(seq_len(nrow(rows)), paste(rows$condition, rows$outcome, rows$timepoint,
                                                sep = "\r"))

reported <- function(d) {
  # Reported effects on the analysis scale: logs of natural ratios, SE from the CI, Cohen's
  # d turned into Hedges' g.
  ratio <- d$effect_type %in% c("RR", "OR", "HR")
  yi <- ifelse(ratio, log(d$yi), d$yi)
  lo <- ifelse(ratio, log(d$ci_low), d$ci_low)
  hi <- ifelse(ratio, log(d$ci_high), d$ci_high)
  level <- ifelse(is.na(d$ci_level), 95, d$ci_level)
  z <- qnorm(1 - (1 - level / 100) / 2)
  se <- ifelse(!is.na(d$sei), d$sei, ifelse(!is.na(d$vi), sqrt(d$vi), (hi - lo) / (2 * z)))
  is_d <- d$effect_type %in% "d"
  J <- ifelse(is_d, 1 - 3 / (4 * (d$n_treat + d$n_ctrl - 2) - 1), 1)
  data.frame(yi = yi * J, vi = (se * J)^2)
}

effects_of <- function(d, a) {
  measure <- a$measure
  opt <- a$escalc
  arm <- is.na(d$effect_type)
  parts <- list()
  if (any(arm) && measure != "GEN") {
    x <- d[arm, ]
    es <- if (measure %in% c("SMD", "MD")) {
      vtype <- if (is.null(opt$vtype) || opt$vtype == "RevMan") "LS" else opt$vtype
      escalc(measure, m1i = mean_treat, sd1i = sd_treat, n1i = n_treat,
             m2i = mean_ctrl, sd2i = sd_ctrl, n2i = n_ctrl, data = x, vtype = vtype)
    } else if (measure %in% c("PLO", "PFT", "PR")) {
      escalc(measure, xi = events_treat, ni = n_treat, data = x,
             add = opt$add, to = opt$to, drop00 = opt$drop00)
    } else {
      escalc(measure, ai = events_treat, n1i = n_treat, ci = events_ctrl, n2i = n_ctrl,
             data = x, add = opt$add, to = opt$to, drop00 = opt$drop00)
    }
    parts[[1]] <- data.frame(study = x$study, year = x$year, yi = as.numeric(es$yi),
                             vi = as.numeric(es$vi))
  }
  if (any(!arm)) {
    r <- reported(d[!arm, ])
    parts[[2]] <- data.frame(study = d$study[!arm], year = d$year[!arm], yi = r$yi,
                             vi = r$vi)
  }
  es <- do.call(rbind, parts)
  es <- es[is.finite(es$yi) & is.finite(es$vi) & es$vi > 0, ]
  es[order(es$year, es$study), ]
}

svg_of <- function(draw, height) {
  path <- tempfile(fileext = ".svg")
  svg(path, width = 8, height = height)
  draw()
  invisible(dev.off())
  text <- paste(readLines(path, warn = FALSE), collapse = "\n")
  unlink(path)
  sub("^<\\?xml[^>]*>\\s*", "", text)  # inline in HTML: no XML declaration
}

fit_of <- function(es, a) {
  fit <- function(method) {
    rma(yi, vi, data = es, method = method, test = a$test, level = a$level, slab = es$study)
  }
  tryCatch(fit(a$method), error = function(e) fit("DL"))
}

number <- function(x) formatC(x, digits = 4, format = "f")
escape <- function(x) gsub(">", "&gt;", gsub("<", "&lt;", gsub("&", "&amp;", x, fixed = TRUE),
                                           fixed = TRUE), fixed = TRUE)

analysis_html <- function(a, es) {
  head <- sprintf("<section class=\"analysis\" id=\"%s\"><h2>%s</h2><p>%s, %s, %s; k = %d</p>",
                  a$analysis, escape(a$label), a$measure, a$method, a$test, nrow(es))
  if (nrow(es) == 0) return(paste0(head, "<p>no trials</p></section>"))
  if (nrow(es) == 1) {
    forest_svg <- svg_of(function() forest(es$yi, es$vi, slab = es$study), 3)
    return(paste0(head, sprintf("<p>one trial: %s</p>", number(es$yi)), forest_svg,
                  "</section>"))
  }
  fit <- fit_of(es, a)
  ci <- confint(fit)
  pred <- predict(fit)
  eg <- tryCatch(regtest(fit, model = "lm"), error = function(e) NULL)
  rk <- tryCatch(ranktest(fit), error = function(e) NULL)
  tf <- tryCatch(trimfill(fit), error = function(e) NULL)
  l1 <- leave1out(fit)
  inf <- influence(fit)
  forest_svg <- svg_of(function() forest(fit, addpred = TRUE, header = TRUE),
                       2 + 0.25 * nrow(es))
  funnel_svg <- svg_of(function() {
    funnel(fit, level = c(90, 95, 99), shade = c("white", "gray55", "gray75"), refline = 0)
  }, 6)
  stats <- sprintf(paste0(
    "<table><tr><td>estimate [CI]</td><td>%s [%s, %s]</td></tr>",
    "<tr><td>p</td><td>%s</td></tr><tr><td>tau2 [CI]</td><td>%s [%s, %s]</td></tr>",
    "<tr><td>I2 [CI]</td><td>%s [%s, %s]</td></tr><tr><td>PI</td><td>%s, %s</td></tr>",
    "<tr><td>Egger p</td><td>%s</td></tr><tr><td>Begg p</td><td>%s</td></tr>",
    "<tr><td>trim-and-fill k0, estimate</td><td>%s, %s</td></tr>",
    "<tr><td>leave-one-out range</td><td>%s to %s</td></tr>",
    "<tr><td>influential trials</td><td>%d</td></tr></table>"),
    number(fit$b[1]), number(fit$ci.lb), number(fit$ci.ub), number(fit$pval),
    number(fit$tau2), number(ci$random["tau^2", "ci.lb"]), number(ci$random["tau^2", "ci.ub"]),
    number(fit$I2), number(ci$random["I^2(%)", "ci.lb"]), number(ci$random["I^2(%)", "ci.ub"]),
    number(pred$pi.lb), number(pred$pi.ub),
    if (is.null(eg)) "NA" else number(eg$pval), if (is.null(rk)) "NA" else number(rk$pval),
    if (is.null(tf)) "NA" else tf$k0, if (is.null(tf)) "NA" else number(tf$b[1]),
    number(min(l1$estimate)), number(max(l1$estimate)), sum(inf$is.infl))
  paste0(head, stats, forest_svg, funnel_svg, "</section>")
}

pages <- setNames(vector("list", length(plan$conditions)), unlist(plan$conditions))
for (a in plan$analyses) {
  picked <- by_question[[paste(a$condition, a$outcome, a$timepoint, sep = "\r")]]
  sel <- rows[picked, ]
  if (length(a$exclude) > 0) sel <- sel[!sel$study %in% unlist(a$exclude), ]
  es <- effects_of(sel, a)
  pages[[a$condition]] <- c(pages[[a$condition]], analysis_html(a, es))
}
pages <- Filter(Negate(is.null), pages)
for (condition in names(pages)) {
  writeLines(c("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>",
               condition, "</title></head><body>", pages[[condition]], "</body></html>"),
             file.path(out, paste0(condition, ".html")))
}
writeLines(c("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Index</title></head>",
             "<body><ul>",
             sprintf("<li><a href=\"%s.html\">%s</a> (%d analyses)</li>", names(pages),
                     names(pages), lengths(pages)),
             "</ul></body></html>"), file.path(out, "index.html"))
