"""`moodlens serve`: the REST API, the live WebSocket and the web page (the [serve] extra)."""
