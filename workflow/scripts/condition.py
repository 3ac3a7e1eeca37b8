"""Rules analyse_{condition}: a condition's rows, analyses, multiverse and page."""

import logging
import os

from ketameta.analysis import run_condition
from ketameta.io import extract_condition
from ketameta.multiverse import write_condition
from ketameta.report import render_condition


def main(inputs, output, params, log: str) -> None:
    logging.basicConfig(filename=os.path.abspath(log), level=logging.INFO, force=True)
    condition = params.condition
    logging.info("reading %s for condition %s", ", ".join(inputs.raw), condition)
    extract_condition(list(inputs.raw), condition, output.rows, dict(params.limits))
    analyses = dict(params.analyses)
    logging.info("analyses: %s", ", ".join(analyses))
    run_condition(output.rows, analyses, list(output.effects), list(output.summaries),
                  grade=dict(params.grade))
    table = summary = None
    if params.multiverse is not None:
        table, summary = output.multiverse  # .csv, .json
        logging.info("multiverse of %s, %d chunk files", params.multiverse["analysis"],
                     len(inputs.chunks))
        write_condition(output.rows, dict(params.multiverse), dict(params.multiverse_settings),
                        table, summary, list(inputs.chunks))
    # The page names the files it shows by their project paths (data/processed/...), which
    # they have below the staging folder too.
    stage = os.path.dirname(os.path.dirname(output.html))  # {stage}/reports/{page}.html
    html = os.path.abspath(output.html)

    def project(path):
        return os.path.relpath(path, stage)

    summaries = [project(p) for p in output.summaries]
    effects = [project(p) for p in output.effects]
    multiverse = [project(summary), project(table)] if summary else []
    rows = project(output.rows)
    os.chdir(stage)
    render_condition(condition, dict(params.page), summaries, effects, html, rows=rows,
                     multiverse=multiverse, links=dict(params.links))
    logging.info("wrote %s", html)


if __name__ == "__main__":
    main(snakemake.input, snakemake.output, snakemake.params, snakemake.log[0])
