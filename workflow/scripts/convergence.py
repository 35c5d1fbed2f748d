"""Whether each training of every network converged, judged from its history by the one rule of
:mod:`airshower.evaluation.convergence` (rule convergence)."""

from airshower import evaluation, io, logs

log = logs.setup(snakemake.log[0])
verdicts = {}
for path in snakemake.input.histories:
    model, seed = evaluation.run_key(path)
    verdict = evaluation.convergence_of_run(io.read_history(path), snakemake.params.training[model])
    verdicts.setdefault(model, {})[seed] = verdict
    (log.info if verdict.converged else log.warning)(
        "%s seed %d: %s: %s", model, seed, verdict.label, verdict.detail
    )
convergence = {
    m: [{"seed": s, **v.record()} for s, v in sorted(by_seed.items())] for m, by_seed in verdicts.items()
}
io.write_json(
    snakemake.output.convergence, {"rule": snakemake.params.convergence_rule, "convergence": convergence}
)
