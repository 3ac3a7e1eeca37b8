"""Rules meta_{condition}: all analyses of one condition, effects.csv and summary.json each."""

import logging

from ketameta.analysis import run_condition


def main(rows: str, analyses: dict, effects: list[str], summaries: list[str], grade: dict,
         log: str) -> None:
    logging.basicConfig(filename=log, level=logging.INFO, force=True)
    logging.info("analyses: %s", ", ".join(analyses))
    run_condition(rows, analyses, effects, summaries, grade=grade)
    logging.info("wrote %d summaries", len(summaries))


if __name__ == "__main__":
    main(
        snakemake.input.rows,
        dict(snakemake.params.analyses),
        list(snakemake.output.effects),
        list(snakemake.output.summaries),
        dict(snakemake.params.grade),
        snakemake.log[0],
    )
