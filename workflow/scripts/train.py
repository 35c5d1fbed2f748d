"""Train one network with one seed, resuming from its checkpoint if there is one (rule train).

Runs under :func:`airshower.jobs.guard`: a second training of the same model and seed fails at
once (lock in the checkpoint folder), and the training stops after an epoch's checkpoint when the
Snakemake process that started it is gone.
"""

from airshower import augmentation, baseline, io, jobs, logs, normalization, preparation, targets, training
from airshower.training import stream

log = logs.setup(snakemake.log[0])
p = snakemake.params
with jobs.guard(f"training {p.model} seed {p.seed}", lock=p.checkpoint_dir) as job:
    settings = training.TrainingSettings.from_config(p.training)
    training.configure_runtime(settings.threads, settings.gpus, settings.mixed_precision)  # before any tensor
    norm = normalization.read_normalization(snakemake.input.normalization)
    names = list(p.spec["targets"])  # what the network reconstructs (airshower.targets)
    labels = targets.labels_needed(names)
    channels = normalization.channel_indices(norm, settings.inputs)
    estimate = sum(stream.inputs_mb(snakemake.input[s], len(channels)) for s in ("train", "val"))
    if estimate > p.memory_budget_mb:  # the inputs stay on disk, read batch by batch
        log.info("inputs of about %.0f MB, above preparation.memory_budget_mb: read from disk", estimate)
        arrays = {
            s: (
                stream.SplitInputs(snakemake.input[s], channels),
                targets.encode(
                    io.read_h5(snakemake.input[s], labels), norm, names, settings.target_transform
                ),
            )
            for s in ("train", "val")
        }
    else:
        splits = {s: io.read_h5(snakemake.input[s], ["x", *labels], finite=["x"]) for s in ("train", "val")}
        arrays = {  # the model's input channels and targets (x holds every channel)
            s: preparation.network_arrays(split, norm, settings.inputs, settings.target_transform, names)
            for s, split in splits.items()
        }
    reference = None  # the reference fit, which the station dropout makes again
    if hasattr(snakemake.input, "showers"):  # given where the station dropout refits
        fit_settings = baseline.BaselineSettings.from_config(p.baseline)  # the prepare job's

        def reference_fit(time_us, signal_vem, positions_m, ldf):
            return baseline.reference_fit(time_us, signal_vem, positions_m, fit_settings, ldf=ldf)

        detector = io.read_h5(snakemake.input.showers, ["detector"], finite=["detector"])["detector"]
        reference = augmentation.ReferenceFit(detector, reference_fit)
    n_outputs = targets.output_units(norm, names)
    log.info(
        "inputs %s; targets %s (energy: %s)", ", ".join(settings.inputs), n_outputs, settings.target_transform
    )
    result = training.train(
        *arrays["train"],
        *arrays["val"],
        p.model,
        p.spec,
        settings,
        p.study_seed,
        p.seed,
        checkpoint_dir=p.checkpoint_dir,
        job=job,
        n_outputs=n_outputs,
        norm=norm,
        reference=reference,
    )
    log.info("%s", result.info)
    training.save_model(result.model, snakemake.output.model)
    io.write_history(snakemake.output.history, result.history)
    io.write_json(snakemake.output.info, result.info)
    training.remove_checkpoint(p.checkpoint_dir)  # outputs complete: a re-run trains afresh
