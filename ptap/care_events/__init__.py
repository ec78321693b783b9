"""Care-pathway events (ruptures de parcours): hospital, emergencies, institution, death."""
