"""The worker runtime: the claim/run/report loop (`loop`) and how one work runs (`runner`)."""
