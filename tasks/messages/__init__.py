"""Messages: exact duplicates marked, and every message and channel tracked once across sightings."""
