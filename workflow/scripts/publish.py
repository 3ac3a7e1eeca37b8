"""Rule publish: copy the staged outputs that changed to data/processed/ and reports/."""

import logging
import os
import sys

from ketameta.errors import DataError
from ketameta.publication import publish


def main(staged: list[str], marker: str, log: str) -> None:
    logging.basicConfig(filename=log, level=logging.INFO, force=True)
    try:
        changed = publish(staged, os.path.dirname(marker))  # {stage}/published
    except DataError as error:
        logging.error("%s", error)
        print(error, file=sys.stderr)
        sys.exit(1)
    logging.info("published %d changed files: %s", len(changed), ", ".join(changed))


if __name__ == "__main__":
    main(list(snakemake.input.staged), snakemake.output.marker, snakemake.log[0])
