"""Relate: boilerplate lines, near-duplicate pairs and clusters, and translations between posts."""

# Posts a relate stage works on at a time (lines placed for boilerplate, sketched for
# near-duplicates, scored for translations): bounds memory, changes no result.
CHUNK_POSTS = 5_000
