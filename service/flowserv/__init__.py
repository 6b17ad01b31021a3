"""The flowServ-compatible surface (SLUICE_FLOWSERV_PREFIX, default /flowserv/api/v1):
the routes the unmodified flowserv-core 0.9.4 remote client calls, over the leaderboard,
group, upload and user stores."""
