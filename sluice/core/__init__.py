"""The plan core: `Call`, `Plan`, `expect` and the senders that run plans."""
