# Publication: the one step that writes data/processed/ and reports/. It runs after every
# other job succeeded and replaces only the files whose content changed, all or none
# (ketameta.publication.publish), so a failed or interrupted run leaves the last good outputs
# byte-identical. Its output is a marker in the staging tree.
from ketameta.publication import in_sync

# A published file deleted or edited by hand is restored on the next run, and a staged file
# deleted is recomputed: the marker of the last publication no longer holds, so it is
# dropped and the publication redone (which needs every staged file).
if not in_sync(STAGE, final_outputs()):
    Path(staged("published")).unlink(missing_ok=True)


rule publish:
    input:
        staged=[staged(path) for path in final_outputs()],
    output:
        marker=touch(staged("published")),
    log:
        "logs/publish.log",
    conda:
        "../../environment.yml"
    params:
        version=VERSION,
    script:
        "../scripts/publish.py"
