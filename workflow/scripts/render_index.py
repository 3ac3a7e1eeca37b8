"""Rule render_index: reports/index.html, the overview of every analysis."""

import logging

from ketameta.report import render_index


def main(config: dict, summaries: list[str], effects: list[str], html: str, log: str) -> None:
    logging.basicConfig(filename=log, level=logging.INFO, force=True)
    logging.info("rendering the overview of %d analyses", len(summaries))
    render_index(config, summaries, effects, html)
    logging.info("wrote %s", html)


if __name__ == "__main__":
    main(dict(snakemake.params.config), list(snakemake.input.summaries),
         list(snakemake.input.effects), snakemake.output.html, snakemake.log[0])
