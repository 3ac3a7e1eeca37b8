"""Rule multiverse: a condition's specification table and summary (gathering any chunks)."""

import logging
import sys

from ketameta.multiverse import write_condition


def main(
    rows: str,
    chunks: list[str],
    analysis: dict,
    settings: dict,
    table: str,
    summary: str,
    log: str,
) -> None:
    logging.basicConfig(filename=log, level=logging.INFO, force=True)
    sys.stderr = open(log, "a")
    logging.info("primary analysis %s, %d chunk files", analysis["analysis"], len(chunks))
    write_condition(rows, analysis, settings, table, summary, chunks)
    logging.info("wrote %s and %s", table, summary)


if __name__ == "__main__":
    main(
        snakemake.input.rows,
        list(snakemake.input.chunks),
        dict(snakemake.params.analysis),
        dict(snakemake.params.settings),
        snakemake.output.table,
        snakemake.output.summary,
        snakemake.log[0],
    )
