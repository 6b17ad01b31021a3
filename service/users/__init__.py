"""Users who log in with a password, and their login sessions: the one user store of
every surface that logs in by password (the Alpine Chorus surface first)."""
