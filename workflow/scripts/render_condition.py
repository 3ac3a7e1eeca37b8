"""Rule render_condition: reports/{condition}.html from the condition's analyses."""

import logging
import os
from pathlib import Path

from ketameta.report import render_condition


def main(condition: str, config: dict, summaries: list[str], effects: list[str], rows: str,
         all_rows: dict, html: str, log: str, multiverse: list[str]) -> None:
    logging.basicConfig(filename=os.path.abspath(log), level=logging.INFO, force=True)
    logging.info("rendering %s from %d analyses", condition, len(summaries))
    # The page names the files it shows by their project paths (data/processed/...), which
    # they have below the staging folder too.
    stage = os.path.dirname(os.path.dirname(html))  # {stage}/reports/{page}.html
    html = os.path.abspath(html)
    summaries = [os.path.relpath(p, stage) for p in summaries]
    effects = [os.path.relpath(p, stage) for p in effects]
    rows = os.path.relpath(rows, stage)
    all_rows = {c: os.path.relpath(p, stage) for c, p in all_rows.items()}
    multiverse = [os.path.relpath(p, stage) for p in multiverse]
    os.chdir(stage)
    render_condition(condition, config, summaries, effects, html, rows=rows,
                     all_rows=all_rows, multiverse=multiverse)
    logging.info("wrote %s", html)


if __name__ == "__main__":
    main(snakemake.wildcards.condition, dict(snakemake.params.config),
         list(snakemake.input.summaries), list(snakemake.input.effects),
         snakemake.input.rows,
         {Path(p).stem: p for p in snakemake.input.all_rows},
         snakemake.output.html, snakemake.log[0], list(snakemake.input.multiverse))
