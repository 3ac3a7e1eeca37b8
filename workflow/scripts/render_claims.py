"""Rule render_claims: data/processed/claims.json and reports/claims.html."""

import logging

from ketameta.report.claims import render_claims


def main(inputs, config: dict, pages: list[str], json_out: str, html: str, log: str) -> None:
    logging.basicConfig(filename=log, level=logging.INFO, force=True)
    result = render_claims(inputs.claims, inputs.schema, config, list(inputs.summaries),
                           list(inputs.effects), json_out, html, pages)
    logging.info("verdicts: %s", result["counts"])


if __name__ == "__main__":
    main(snakemake.input, dict(snakemake.params.config), list(snakemake.params.pages),
         snakemake.output.json, snakemake.output.html, snakemake.log[0])
