"""Rule render_index: reports/index.html, the overview of every analysis."""

import logging
import os

from ketameta.report import render_index


def main(config: dict, summaries: list[str], effects: list[str], html: str, log: str) -> None:
    logging.basicConfig(filename=os.path.abspath(log), level=logging.INFO, force=True)
    logging.info("rendering the overview of %d analyses", len(summaries))
    # The page names the files it shows by their project paths (data/processed/...), which
    # they have below the staging folder too.
    stage = os.path.dirname(os.path.dirname(html))  # {stage}/reports/{page}.html
    html = os.path.abspath(html)
    summaries = [os.path.relpath(p, stage) for p in summaries]
    effects = [os.path.relpath(p, stage) for p in effects]
    os.chdir(stage)
    render_index(config, summaries, effects, html)
    logging.info("wrote %s", html)


if __name__ == "__main__":
    main(dict(snakemake.params.config), list(snakemake.input.summaries),
         list(snakemake.input.effects), snakemake.output.html, snakemake.log[0])
