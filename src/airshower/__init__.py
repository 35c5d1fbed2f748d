"""Library of the air-shower energy-reconstruction study.

One module per concern: ``config`` (schema and checks), ``io`` (every file access), ``rng``
(random streams), ``atmosphere`` and ``xmax`` (physics inputs), ``simulation`` (the toy air
showers), ``preparation`` (split and normalization), ``models`` and ``training`` (Keras),
``baseline`` (classical reconstruction), ``evaluation`` (metrics) and ``plotting`` (figures).
Entry scripts in ``scripts/`` unpack the Snakemake object and call these functions.
"""
