"""`moodlens analyze` runs: inputs to records, pictures and summaries, locally or on Ray."""
