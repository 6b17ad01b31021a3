"""Each API's wire protocol as plans: pure generators, no I/O (see sluice.core.plan)."""
