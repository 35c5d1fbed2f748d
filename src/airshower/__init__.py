"""Library of the air-shower reconstruction study (installed editable by ``make venv``).

One module or package per concern: ``config`` (schema, validation, settings objects), ``io``
(every file access and the data contracts), ``rng`` (random streams), ``geometry`` and
``statistics`` (the one definition of each geometric and statistical quantity), ``atmosphere``
and ``xmax`` (physics inputs), ``simulation`` (the toy air showers), ``preparation`` (split and
normalization), ``models`` and ``training`` (Keras), ``baseline`` (classical reconstruction),
``evaluation`` (metrics and the summary table) and ``plotting`` (figures). The rule scripts in
``workflow/scripts/`` unpack the Snakemake object and call these; ``docs/architecture.md`` maps
them.
"""
