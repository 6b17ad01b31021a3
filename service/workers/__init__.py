"""The registry of Sluice workers: who is alive, where, serving what, running what."""
