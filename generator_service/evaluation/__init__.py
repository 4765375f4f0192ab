"""The evaluation instrument (issue #6): does the music follow the performer?

- `metrics`: pure metric functions over plain arrays (audio [S] at 32 kHz, motion/expression curves
  at a feature rate), each returning a typed result that carries the tolerance it used.
- `inputs`: what an evaluation is given (`EvalItem`s, `EvalConfig`, the systems' names).
- `runner`: the evaluate loop over `EvalItem`s; generation is injected as `generate(item, system)`.
- `results`: what it finds (`ClipResult`, `EvalReport`, aggregates, paired comparisons, JSON).
- `report`: the self-contained HTML report (inline SVG plots) and the JSON of all numbers.
- `references`: optional reference models loaded from local files only (EnCodec of the music
  model, a transformers CLAP) for FAD and the CLAP text score.
- `evaluate_cli`: the `evaluate` command (model + adapter vs the text-only baseline).

Nothing here downloads anything. Heavy imports (librosa, scipy, matplotlib) happen inside functions.
"""
