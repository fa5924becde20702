"""Export: a run's new rows validated against the schemas and committed together."""
