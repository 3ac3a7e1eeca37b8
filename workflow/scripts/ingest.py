"""Rule ingest: validate the files holding one condition's rows, write those rows."""

import logging

from ketameta.io import extract_condition


def main(raw: list[str], condition: str, limits: dict, rows: str, log: str) -> None:
    logging.basicConfig(filename=log, level=logging.INFO, force=True)
    logging.info("reading %s for condition %s", ", ".join(raw), condition)
    extract_condition(raw, condition, rows, limits)
    logging.info("wrote %s", rows)


if __name__ == "__main__":
    main(
        list(snakemake.input.raw),
        snakemake.params.condition,
        dict(snakemake.params.limits),
        snakemake.output.rows,
        snakemake.log[0],
    )
