# Regenerates tests/reference/mh.json: metafor rma.mh() and rma.peto() results for
# ketameta.rma_mh() and ketameta.rma_peto().
#
#   Rscript tests/reference/mh_cases.R            (from the repository root)
#
# Every case is a set of 2x2 tables (ai, bi, ci, di) and the options passed to metafor
# (add, to, drop00 as pairs: study level, pooling; correct; level). For each case it
# records rma.mh() with measure OR, RR and RD and rma.peto(), plus the study-level yi/vi
# (escalc with the first add/to/drop00). Numbers are written with 17 significant digits;
# R and metafor versions are recorded.

suppressPackageStartupMessages(library(metafor))

cases <- list()
add_case <- function(name, ai, bi, ci, di, source, add = c(1/2, 0), to = c("only0", "none"),
                     drop00 = c(TRUE, FALSE), correct = TRUE, level = 95) {
  cases[[name]] <<- list(ai = as.numeric(ai), bi = as.numeric(bi), ci = as.numeric(ci),
    di = as.numeric(di), source = source,
    options = list(add = add, to = to, drop00 = drop00, correct = correct, level = level))
}

add_case("bcg", dat.bcg$tpos, dat.bcg$tneg, dat.bcg$cpos, dat.bcg$cneg, "dat.bcg")
li <- dat.li2007
add_case("li2007_zero_cells", li$ai, li$n1i - li$ai, li$ci, li$n2i - li$ci,
  "dat.li2007 (tables with zero cells and with no events at all)")
y6 <- dat.yusuf1985[dat.yusuf1985$table == "6", ]
add_case("yusuf1985_table6", y6$ai, y6$n1i - y6$ai, y6$ci, y6$n2i - y6$ci,
  'dat.yusuf1985[table == "6", ]')
add_case("li2007_to_all_no_correct", li$ai, li$n1i - li$ai, li$ci, li$n2i - li$ci,
  "dat.li2007 with add=c(1/2, 1/2), to=c('all', 'only0'), drop00=c(FALSE, TRUE), correct=FALSE, level=90",
  add = c(1/2, 1/2), to = c("all", "only0"), drop00 = c(FALSE, TRUE), correct = FALSE,
  level = 90)
add_case("rare_events", c(0, 1, 0, 2, 0), c(50, 99, 120, 78, 40), c(1, 0, 0, 3, 2),
  c(49, 100, 118, 77, 38), "synthetic: rare events, one double-zero table")
add_case("k1", 4, 36, 9, 31, "synthetic: k = 1")
add_case("no_events_in_treatment", c(0, 0, 0), c(20, 30, 25), c(1, 2, 0), c(19, 28, 25),
  "synthetic: no events in the treatment arm of any table (MH OR and RR undefined)")
add_case("no_events_at_all", c(0, 0), c(30, 25), c(0, 0), c(28, 26),
  "synthetic: no events in any arm (every estimate undefined; rma.peto stops)")
add_case("equal_tables", c(5, 5, 5), c(15, 15, 15), c(5, 5, 5), c(15, 15, 15),
  "synthetic: identical tables with odds ratio 1")

fit_all <- function(cs) {
  o <- cs$options
  tab <- list(ai = cs$ai, bi = cs$bi, ci = cs$ci, di = cs$di)
  out <- list()
  for (measure in c("OR", "RR", "RD", "PETO")) {
    res <- tryCatch(
      if (measure == "PETO") {
        suppressWarnings(rma.peto(ai = tab$ai, bi = tab$bi, ci = tab$ci, di = tab$di,
          add = o$add, to = o$to, drop00 = o$drop00, level = o$level))
      } else {
        suppressWarnings(rma.mh(ai = tab$ai, bi = tab$bi, ci = tab$ci, di = tab$di,
          measure = measure, add = o$add, to = o$to, drop00 = o$drop00,
          correct = o$correct, level = o$level))
      }, error = function(e) conditionMessage(e))
    es <- suppressWarnings(escalc(measure = measure, ai = tab$ai, bi = tab$bi, ci = tab$ci,
      di = tab$di, add = o$add[1], to = o$to[1], drop00 = o$drop00[1]))
    if (is.character(res)) {
      out[[measure]] <- list(error = res, yi = as.numeric(es$yi), vi = as.numeric(es$vi))
      next
    }
    rec <- list(
      call = if (measure == "PETO") "rma.peto(ai, bi, ci, di, add, to, drop00, level)"
             else sprintf('rma.mh(ai, bi, ci, di, measure="%s", add, to, drop00, correct, level)', measure),
      k = res$k, k_yi = res$k.yi, estimate = as.numeric(res$beta), se = res$se,
      ci_low = res$ci.lb, ci_high = res$ci.ub, statistic = res$zval, p_value = res$pval,
      Q = res$QE, Q_p = res$QEp, I2 = res$I2, H2 = res$H2,
      yi = as.numeric(es$yi), vi = as.numeric(es$vi))
    if (measure == "OR") {
      rec$cmh_statistic <- res$MH
      rec$cmh_p <- res$MHp
      rec$bd_statistic <- res$BD
      rec$bd_p <- res$BDp
      rec$tarone_statistic <- res$TA
      rec$tarone_p <- res$TAp
      rec$k_pos <- res$k.pos
    }
    out[[measure]] <- rec
  }
  out
}

results <- list()
for (name in names(cases)) {
  cs <- cases[[name]]
  results[[name]] <- c(cs, list(results = fit_all(cs)))
}

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
  if (is.logical(x)) {
    s <- ifelse(is.na(x), "null", tolower(as.character(x)))
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
  generated_by = "tests/reference/mh_cases.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  cases = results
)
writeLines(to_json(out), "tests/reference/mh.json")
cat("wrote tests/reference/mh.json:", length(results), "cases\n")
