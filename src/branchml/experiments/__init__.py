"""Online experiments read from monitoring logs: A/B reports, forward and backward tests (B6)."""
