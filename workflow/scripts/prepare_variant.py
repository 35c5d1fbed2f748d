"""Prepare a variant's test set with the nominal normalization, never refitted (rule
prepare_variant): the layout of results/data/test.h5, ``index`` the rows of its showers.h5; the
reference fit of every event first (the plane and LDF fits of the residual, front and ldf channels)."""

from airshower import baseline, io, logs, normalization, preparation, systematics

log = logs.setup(snakemake.log[0])
norm = normalization.read_normalization(snakemake.input.normalization)
showers = io.read_showers(snakemake.input.showers, traces="trace" in norm)  # what the channels need
front_settings = baseline.BaselineSettings.from_config(snakemake.params.baseline)
showers, _ = baseline.with_reference_fit(showers, front_settings)  # logs its cost
settings = preparation.PreparationSettings.from_config(snakemake.params.preparation)
test = systematics.prepare_variant(showers, norm, settings.evaluated_log10_energy_ev)
log.info("variant %s: %d events, x %s", snakemake.wildcards.variant, len(test["index"]), test["x"].shape)
attrs = io.provenance(snakemake.params.preparation, snakemake.params.seed)
attrs["variant"] = snakemake.wildcards.variant
io.write_h5(snakemake.output.test, test, units=preparation.split_units(), attrs=attrs)
