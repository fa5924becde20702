"""Language: a language tag and score for each post and paragraph."""
