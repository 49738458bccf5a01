"""Training runs on stable branches: tag chosen first, everything committed, one record on main.

See docs/runs.md. Modules: `tags` (race-safe numbering), `run` (the workflow), `card` (MODEL_CARD.md),
`tracking` (records on main by plumbing), `release` (what a customer fetches), `mlflow_export`.
"""
