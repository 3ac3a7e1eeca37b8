"""Rule render_claims: data/processed/claims.json and reports/claims.html."""

import logging
import os

from ketameta.report.claims import render_claims


def main(inputs, config: dict, checked: dict, pages: list[str], json_out: str, html: str,
         log: str) -> None:
    logging.basicConfig(filename=os.path.abspath(log), level=logging.INFO, force=True)
    # The page names the files it shows by their project paths (data/processed/...), which
    # they have below the staging folder too.
    stage = os.path.dirname(os.path.dirname(html))  # {stage}/reports/claims.html
    claims, schema = os.path.abspath(inputs.claims), os.path.abspath(inputs.schema)
    json_out, html = os.path.abspath(json_out), os.path.abspath(html)
    summaries = [os.path.relpath(p, stage) for p in inputs.summaries]
    effects = [os.path.relpath(p, stage) for p in inputs.effects]
    os.chdir(stage)
    # The claims were checked when the workflow was read (the plan holds them checked).
    result = render_claims(claims, schema, config, summaries, effects, json_out, html, pages,
                           checked=checked)
    logging.info("verdicts: %s", result["counts"])


if __name__ == "__main__":
    main(snakemake.input, dict(snakemake.params.config), dict(snakemake.params.claims),
         list(snakemake.params.pages), snakemake.output.json, snakemake.output.html,
         snakemake.log[0])
