"""The Aqueduct-compatible surface: what the unmodified `pyaqueduct` client speaks
(GraphQL and file routes at SLUICE_AQUEDUCT_PREFIX), over the experiment stores of
service.experiments."""
