"""Rule multiverse_chunk: fit one range of a condition's specifications."""

import logging
import sys
import tempfile
from pathlib import Path

from ketameta.io import extract_condition
from ketameta.multiverse import write_chunk


def main(raw: list[str], condition: str, limits: dict, analysis: dict, settings: dict,
         start: int, stop: int, part: str, log: str) -> None:
    logging.basicConfig(filename=log, level=logging.INFO, force=True)
    sys.stderr = open(log, "a")
    logging.info("specifications %d to %d of %s", start, stop - 1, analysis["analysis"])
    # The condition's rows as its job reads them (the same validated table).
    with tempfile.TemporaryDirectory() as folder:
        rows = Path(folder) / f"{condition}.csv"
        extract_condition(raw, condition, rows, limits)
        write_chunk(rows, analysis, settings, start, stop, part)


if __name__ == "__main__":
    main(
        list(snakemake.input.raw),
        snakemake.params.condition,
        dict(snakemake.params.limits),
        dict(snakemake.params.analysis),
        dict(snakemake.params.settings),
        snakemake.params.start,
        snakemake.params.stop,
        snakemake.output.part,
        snakemake.log[0],
    )
