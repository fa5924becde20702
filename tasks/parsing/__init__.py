"""Parsing: a text capture's lines split into posts, each rebuilt from its two body copies; posts into paragraphs."""
