"""Rule multiverse_chunk: fit one range of a condition's specifications."""

import logging
import sys

from ketameta.multiverse import write_chunk


def main(
    rows: str, analysis: dict, settings: dict, start: int, stop: int, part: str, log: str
) -> None:
    logging.basicConfig(filename=log, level=logging.INFO, force=True)
    sys.stderr = open(log, "a")
    logging.info("specifications %d to %d of %s", start, stop - 1, analysis["analysis"])
    write_chunk(rows, analysis, settings, start, stop, part)


if __name__ == "__main__":
    main(
        snakemake.input.rows,
        dict(snakemake.params.analysis),
        dict(snakemake.params.settings),
        snakemake.params.start,
        snakemake.params.stop,
        snakemake.output.part,
        snakemake.log[0],
    )
