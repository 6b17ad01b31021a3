"""The dashboard Sluice serves at `/`: a page reading the API, every asset local."""
