"""Flows over versioned data (AERO): registration and triggers (`store`), runs on the
queue and their exactly-once commit (`runs`), provenance and lineage (`provenance`)."""
