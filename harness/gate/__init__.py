"""The gate: thresholds and noise-robust regression checks over a run -> an exit code.

Modules, in pipeline order:

- ``thresholds``  parse ``"p95 < 200ms"`` into a typed ``Threshold`` (pure)
- ``noise``       per-window latency histograms and the block-bootstrap comparison (pure)
- ``baseline``    the committed baseline files: build (pure), save, load, resolve
- ``evaluate``    results + thresholds + baseline -> a list of ``Check`` and the exit code (pure)
- ``formats``     renderers of a check list: console table, JUnit XML, Markdown, gate.json (pure,
  they return strings or rich renderables)
- ``command``     what ``bench gate`` / ``bench run --gate`` do: load, evaluate, print, write
  files (atomically); the only module here that writes
"""
