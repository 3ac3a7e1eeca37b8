"""Rule render_condition: reports/{condition}.html from the condition's analyses."""

import logging
from pathlib import Path

from ketameta.report import render_condition


def main(condition: str, config: dict, summaries: list[str], effects: list[str], rows: str,
         all_rows: dict, html: str, log: str) -> None:
    logging.basicConfig(filename=log, level=logging.INFO, force=True)
    logging.info("rendering %s from %d analyses", condition, len(summaries))
    render_condition(condition, config, summaries, effects, html, rows=rows, all_rows=all_rows)
    logging.info("wrote %s", html)


if __name__ == "__main__":
    main(snakemake.wildcards.condition, dict(snakemake.params.config),
         list(snakemake.input.summaries), list(snakemake.input.effects),
         snakemake.input.rows,
         {Path(p).stem: p for p in snakemake.input.all_rows},
         snakemake.output.html, snakemake.log[0])
