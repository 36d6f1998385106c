"""End-to-end analysis of new radiographs (``ramkit analyze``): bones -> joints -> scores -> totals -> report.

Stages (each a module): :mod:`~ramkit.pipeline.inputs` (files, unique names), :mod:`~ramkit.pipeline.models`
(which trained run serves which stage), :mod:`~ramkit.pipeline.analyze` (one radiograph -> ``result.json``,
the batch loop, resume, sharding), :mod:`~ramkit.pipeline.progression` (visits of one patient -> deltas).
The joint localisation lives in :mod:`ramkit.joints`, the HTML report in :mod:`ramkit.report.analysis_html`.
"""
