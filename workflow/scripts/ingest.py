"""Rule ingest: validate the files holding one condition's rows, write those rows."""

import logging

from ketameta.io import extract_condition


def main(raw: list[str], condition: str, rows: str, log: str) -> None:
    logging.basicConfig(filename=log, level=logging.INFO, force=True)
    logging.info("reading %s for condition %s", ", ".join(raw), condition)
    extract_condition(raw, condition, rows)
    logging.info("wrote %s", rows)


if __name__ == "__main__":
    main(
        list(snakemake.input.raw),
        snakemake.params.condition,
        snakemake.output.rows,
        snakemake.log[0],
    )
