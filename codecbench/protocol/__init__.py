"""Paper protocols: a paper's evaluation as data (spec: load, validate, run config) and our figures
next to its published ones (table). ``codecbench run --protocol NAME`` runs one and ends with the
comparison; ``codecbench protocol`` lists, validates and renders them (cli)."""
