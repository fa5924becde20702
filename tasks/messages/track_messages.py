"""Messages and channels from sightings: every message once, as the channel published it.

A sighting is one occurrence row without its text: a message (or a capture's post) as
one source showed it. Everything here is a pure function of the set of sightings, so
the tables do not depend on how files were split into runs:

- `channel_keys`: one key per channel, whatever the format called it; made from each
  distinct identity's summary (`identity_rows`), which a run updates with its own
  sightings alone (`updated_identities`);
- `message_rows`: one row per message; a text capture's sighting joins the message of
  its channel whose text it shows, else it is a capture-only row (no message_id);
- `edit_pairs`: a message seen with several texts, earlier text → later text;
- `post_fields`: the fields a post takes from its sightings;
- `channel_rows`: one row per channel, from its identities' summaries.

A message's row, a post's fields and a channel's row each depend on their own
sightings only, so a run remakes just those its sightings touch (flows/sightings.py).

Sightings are ordered by when their source was captured (`captured_at`), then (for
files captured at the same time) by name, content hash and position; never by run.
"""
from __future__ import annotations

import polars as pl

from schemas.tables import REACTION

IDENTITY = ["channel_given", "channel_username", "channel_title", "channel_numeric_id"]
# The columns of an occurrence that messages, channels and posts' fields are made of.
SIGHTING_COLUMNS = [
    "source_file", "source_sha256", "position", "post_id", *IDENTITY, "message_id", "date", "edited_at", "views", "reactions",
    "forwarded_from", "forwarded_from_id", "reply_to_message_id", "author", "media_type", "media",
]
SIGHTING_ORDER = ["captured_at", "source_file", "source_sha256", "position"]
# A message's versions in the order they became current: a text is known from its edit
# time, or else from its source's capture time (the unedited text, a page's text).
VERSION_ORDER = [pl.coalesce("edited_at", "captured_at"), *SIGHTING_ORDER]
# Two sources are one channel when they show this many of the same own messages (same
# id, same text), or all of theirs when they have fewer.
SHARED_MESSAGES = 2
KEY_RANKS = (("channel_username", 0), ("channel_given", 1), ("channel_title", 2), ("channel_numeric_id", 3))


def identity_key() -> pl.Expr:
    """One string per identity (its IDENTITY values as JSON): a stable join key."""
    return pl.struct(IDENTITY).struct.json_encode().alias("identity")


def own_messages(sightings: pl.DataFrame) -> pl.DataFrame:
    """(identity, message_id, post_id) of each identity's own messages (not forwards), once."""
    return sightings.filter(
        pl.col("message_id").is_not_null() & pl.col("post_id").is_not_null() & pl.col("forwarded_from").is_null()
    ).select(identity_key(), "message_id", "post_id").unique()


def shared_counts(own: pl.DataFrame) -> pl.DataFrame:
    """Pairs of identities (identity < identity_b) → how many own messages they share."""
    return (
        own.join(own, on=["message_id", "post_id"], suffix="_b")
        .filter(pl.col("identity") < pl.col("identity_b"))
        .group_by("identity", "identity_b").agg(shared=pl.len().cast(pl.Int64))
    )


# An identity's latest sighting, by SIGHTING_ORDER: the channel's title is that of the
# identity seen last among those with a title.
LAST_SEEN = [f"last_{column}" for column in SIGHTING_ORDER]


def identity_stats(rows: pl.DataFrame) -> pl.DataFrame:
    """Per identity, from rows of `sighting_stats` (of sightings or of identities):
    first and last capture time, first and last message date, its latest sighting."""
    return rows.group_by("identity", *IDENTITY).agg(
        first_seen_at=pl.col("first_seen_at").min(),
        last_seen_at=pl.col("last_seen_at").max(),
        first_message_date=pl.col("first_message_date").min(),
        last_message_date=pl.col("last_message_date").max(),
        *[pl.col(c).sort_by(LAST_SEEN).last() for c in LAST_SEEN],
    )


def sighting_stats(sightings: pl.DataFrame) -> pl.DataFrame:
    """Each sighting as a row `identity_stats` merges."""
    return sightings.select(
        identity_key(), *IDENTITY,
        first_seen_at="captured_at", last_seen_at="captured_at", first_message_date="date", last_message_date="date",
        **{last: column for last, column in zip(LAST_SEEN, SIGHTING_ORDER)},
    )


def identity_rows(sightings: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The identities of `sightings` with their stats and number of own messages
    (`n_own`), and the own messages each pair of them shares."""
    own = own_messages(sightings)
    counted = own.group_by("identity").agg(n_own=pl.len().cast(pl.Int64))
    identities = identity_stats(sighting_stats(sightings)).join(counted, on="identity", how="left").with_columns(
        pl.col("n_own").fill_null(0)
    )
    return identities, shared_counts(own)


def updated_identities(stored: pl.DataFrame, pairs: pl.DataFrame, run: pl.DataFrame,
                       stored_own: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`identity_rows` of stored and run sightings together, from the stored identities
    and pairs and only those stored own messages that the run's own messages name
    (`stored_own`: identity, message_id, post_id): exactly what `identity_rows` of every
    sighting gives."""
    run_identities, _ = identity_rows(run)
    new_own = own_messages(run).join(stored_own, on=["identity", "message_id", "post_id"], how="anti")
    added = new_own.group_by("identity").agg(n_added=pl.len().cast(pl.Int64))
    both = pl.concat([stored.drop("n_own", "channel", strict=False), run_identities.drop("n_own")],
                     how="diagonal_relaxed")
    identities = (
        identity_stats(both)
        .join(stored.select("identity", "n_own"), on="identity", how="left")
        .join(added, on="identity", how="left")
        .select(pl.exclude("n_own", "n_added"), n_own=pl.col("n_own").fill_null(0) + pl.col("n_added").fill_null(0))
    )
    # A pair shares one more message for each message the run adds to either of them.
    seen = pl.concat([stored_own.with_columns(new=pl.lit(False)), new_own.with_columns(new=pl.lit(True))])
    more = (
        seen.join(seen, on=["message_id", "post_id"], suffix="_b")
        .filter((pl.col("identity") < pl.col("identity_b")) & (pl.col("new") | pl.col("new_b")))
        .group_by("identity", "identity_b").agg(shared=pl.len().cast(pl.Int64))
    )
    pairs = pl.concat([pairs, more]).group_by("identity", "identity_b").agg(pl.col("shared").sum())
    return identities, pairs


def channel_keys(sightings: pl.DataFrame) -> pl.DataFrame:
    """Each distinct identity (IDENTITY columns) → `channel`, its channel's key (see
    `identity_channels`)."""
    return identity_channels(*identity_rows(sightings)).select(*IDENTITY, "channel")


def identity_channels(identities: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """Each identity (`identity_rows`) → `channel`, its channel's key.

    Identities are one channel when they share a handle (a username or a given name:
    `--channel`, a capture's folder; case-insensitive), a numeric id, or their own
    messages (not forwards) with the same id and text. The key is the group's username,
    else a given name, else a title, else the numeric id; the smallest where there are
    several. Groups whose keys come out equal are one channel, unless they have
    different numeric ids: then each key gets its id (`Title #123`).
    """
    nodes = (
        identities.select("identity", *IDENTITY, "n_own")
        .sort(IDENTITY, nulls_last=True)
        .with_columns(node=pl.int_range(pl.len(), dtype=pl.Int64), username=pl.col("channel_username").str.to_lowercase())
    )
    handles = pl.concat([
        nodes.select("node", handle="username"), nodes.select("node", handle=pl.col("channel_given").str.to_lowercase())
    ])
    if nodes.height == 0:
        return nodes.select("identity", *IDENTITY).with_columns(channel=pl.lit(None, pl.Utf8))
    edges = [_same_value_edges(handles, "handle"), _same_value_edges(nodes, "channel_numeric_id")]
    edges.append(_shared_message_edges(pairs, nodes))
    nodes = nodes.with_columns(group=pl.Series(_components(nodes.height, pl.concat(edges)), dtype=pl.Int64))
    candidates = pl.concat([
        nodes.select("group", rank=pl.lit(rank), name=pl.col(column).cast(pl.Utf8) if column != "channel_username"
                     else pl.col("username"))
        for column, rank in KEY_RANKS
    ]).drop_nulls("name").filter(pl.col("name") != "")
    keys = (
        candidates.sort("rank", "name")
        .group_by("group", maintain_order=True).agg(channel=pl.col("name").first())
        .join(nodes.group_by("group").agg(numeric_id=pl.col("channel_numeric_id").min()), on="group")
    )
    clash = pl.col("numeric_id").drop_nulls().n_unique().over("channel") > 1
    keys = keys.with_columns(
        channel=pl.when(clash & pl.col("numeric_id").is_not_null())
        .then(pl.format("{} #{}", "channel", "numeric_id")).otherwise("channel")
    )
    return (
        nodes.join(keys, on="group", how="left")
        .select("identity", *IDENTITY, pl.col("channel").fill_null("unknown"))
    )


def _same_value_edges(nodes: pl.DataFrame, column: str) -> pl.DataFrame:
    valued = nodes.drop_nulls(column).select("node", column).unique()
    return valued.join(valued, on=column, suffix="_b").filter(pl.col("node") < pl.col("node_b")).select(
        a="node", b="node_b"
    )


def _shared_message_edges(pairs: pl.DataFrame, nodes: pl.DataFrame) -> pl.DataFrame:
    sizes = nodes.select("identity", "node", "n_own")
    linked = pairs.join(sizes, on="identity").join(sizes, left_on="identity_b", right_on="identity", suffix="_b")
    needed = pl.min_horizontal(pl.lit(SHARED_MESSAGES, pl.Int64), "n_own", "n_own_b")
    return linked.filter(pl.col("shared") >= needed).select(a="node", b="node_b")


def _components(n: int, edges: pl.DataFrame) -> list[int]:
    """Connected components (union-find over integers): each node → its smallest node."""
    parent = list(range(n))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges.iter_rows():
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [root(x) for x in range(n)]


def with_channel_keys(sightings: pl.DataFrame, keys: pl.DataFrame) -> pl.DataFrame:
    return sightings.drop("channel", strict=False).join(
        keys, on=IDENTITY, how="left", nulls_equal=True, maintain_order="left"
    )


def _last(column: str, order) -> pl.Expr:
    """The value of the latest sighting (by `order`) that shows one."""
    return pl.col(column).sort_by(order).drop_nulls().last()


def message_rows(sightings: pl.DataFrame) -> pl.DataFrame:
    """One row per message: (channel, message_id), or (channel, post_id) for a text only
    text captures saw. Needs `channel` and `captured_at` on every sighting."""
    with_id = sightings.filter(pl.col("message_id").is_not_null())
    texts = with_id.drop_nulls("post_id").select("channel", "post_id", "message_id").unique()
    # A capture's text that is a version of exactly one message of its channel is a
    # sighting of that message; one shared by several messages ("." posted twice) is
    # counted toward none, and never becomes a capture-only row.
    owners = texts.group_by("channel", "post_id").agg(owner=pl.col("message_id").first(), n=pl.len())
    captures = (
        sightings.filter(pl.col("message_id").is_null() & pl.col("post_id").is_not_null())
        .join(owners, on=["channel", "post_id"], how="left")
        .filter(pl.col("n").is_null() | (pl.col("n") == 1))
        .with_columns(message_id=pl.col("owner")).drop("owner", "n")
    )
    rows = pl.concat([with_id, captures], how="vertical_relaxed").with_columns(
        capture_text=pl.when(pl.col("message_id").is_null()).then(pl.col("post_id"))
    )
    non_empty = pl.when(pl.col("reactions").list.len() > 0).then(pl.col("reactions"))
    messages = rows.with_columns(shown_reactions=non_empty).group_by("channel", "message_id", "capture_text").agg(
        versions=pl.col("post_id").sort_by(VERSION_ORDER).drop_nulls().unique(maintain_order=True),
        date=pl.col("date").min(),
        edited_at=pl.col("edited_at").max(),
        views=_last("views", SIGHTING_ORDER),
        reactions=_last("shown_reactions", SIGHTING_ORDER),
        forwarded_from=_last("forwarded_from", SIGHTING_ORDER),
        forwarded_from_id=_last("forwarded_from_id", SIGHTING_ORDER),
        reply_to_message_id=_last("reply_to_message_id", SIGHTING_ORDER),
        author=_last("author", SIGHTING_ORDER),
        media_type=_last("media_type", SIGHTING_ORDER),
        media=_last("media", SIGHTING_ORDER),
        n_sightings=pl.len().cast(pl.Int64),
        first_seen_at=pl.col("captured_at").min(),
        last_seen_at=pl.col("captured_at").max(),
    )
    return messages.with_columns(
        post_id=pl.col("versions").list.last(),
        reactions=pl.col("reactions").fill_null(pl.lit([], pl.List(REACTION))),
        n_versions=pl.col("versions").list.len().cast(pl.Int64),
    ).drop("capture_text").sort("channel", "message_id", "post_id", nulls_last=True)


def edit_pairs(messages: pl.DataFrame) -> pl.DataFrame:
    """A message's consecutive versions: (earlier text, later text)."""
    versions = (
        messages.filter(pl.col("n_versions") > 1)
        .select(earlier=pl.col("versions").list.slice(0, pl.col("n_versions") - 1),
                later=pl.col("versions").list.slice(1))
        .explode("earlier", "later")
    )
    return versions.select(post_id="earlier", other_post_id="later").unique(maintain_order=True)


def post_fields(sightings: pl.DataFrame) -> pl.DataFrame:
    """Per post_id: channel, forwarded source and media of its earliest sighting; the id
    and date of its first message (earliest date, then lowest id); views and reactions
    of the latest sighting that shows them; the latest edit time."""
    with_text = sightings.filter(pl.col("post_id").is_not_null()).with_columns(
        shown_reactions=pl.when(pl.col("reactions").list.len() > 0).then(pl.col("reactions"))
    )
    first_message = [pl.col("date").is_null(), "date", "message_id", *SIGHTING_ORDER]
    return with_text.group_by("post_id").agg(
        *[pl.col(c).sort_by(SIGHTING_ORDER).first() for c in ("channel", "forwarded_from", "media", "media_type")],
        message_id=pl.col("message_id").sort_by(first_message).first(),
        date=pl.col("date").sort_by(first_message).first(),
        edited_at=pl.col("edited_at").max(),
        views=_last("views", SIGHTING_ORDER),
        reactions=_last("shown_reactions", SIGHTING_ORDER).fill_null(pl.lit([], pl.List(REACTION))),
    )


def channel_rows(identities: pl.DataFrame) -> pl.DataFrame:
    """One row per channel key (`identity_rows` with their `channel`): its username,
    latest title, numeric id, the names it was given, when it was first and last
    captured, and its messages' date range."""
    return identities.group_by("channel").agg(
        username=pl.col("channel_username").str.to_lowercase().drop_nulls().min(),
        title=pl.col("channel_title").sort_by(LAST_SEEN).drop_nulls().last(),
        numeric_id=pl.col("channel_numeric_id").drop_nulls().min(),
        names=pl.concat_list(pl.col("channel_given"), pl.col("channel_title"), pl.col("channel_username"))
        .explode().drop_nulls().unique().sort(),
        first_seen_at=pl.col("first_seen_at").min(),
        last_seen_at=pl.col("last_seen_at").max(),
        first_message_date=pl.col("first_message_date").min(),
        last_message_date=pl.col("last_message_date").max(),
    ).sort("channel")
