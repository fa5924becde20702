"""Relate: boilerplate lines, near-duplicate pairs and clusters, and translations between posts."""
