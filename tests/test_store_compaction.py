"""Store compaction: a table that gains a small file every run keeps a few files per
size tier, merged in run order, and never gives a file name other rows."""
import polars as pl

from tgcorpus.store import Store


def digit_sum_base4(n: int) -> int:
    total = 0
    while n:
        n, digit = divmod(n, 4)
        total += digit
    return total


def test_one_row_runs_merge_like_a_base4_counter_and_keep_row_order(tmp_path):
    """Read by hand: after n one-row runs the files are n's base-4 digits (four files of
    one tier merge into one of the next), e.g. 7 = 13 in base 4: one file of 4 rows and
    three of 1; 16 = 100: one file of 16 rows."""
    store = Store(tmp_path / "out")
    seen_names: dict[str, bytes] = {}
    for run in range(1, 21):
        store.commit({"t": pl.DataFrame({"n": [run]})}, f"r{run:03d}", rows_per_file=100)
        files = store.files("t")
        assert len(files) == digit_sum_base4(run), run
        assert pl.read_parquet(files)["n"].to_list() == list(range(1, run + 1))
        for path in files:  # a name, once used, always holds the same rows
            assert seen_names.setdefault(path.name, path.read_bytes()) == path.read_bytes()
    assert sorted(pl.read_parquet(path).height for path in store.files("t")) == [4, 16]


def test_full_files_are_never_merged_and_small_ones_after_them_are(tmp_path):
    store = Store(tmp_path / "out")
    store.commit({"t": pl.DataFrame({"n": list(range(10))})}, "r000", rows_per_file=5)  # two full files
    for run in range(1, 5):
        store.commit({"t": pl.DataFrame({"n": [100 + run]})}, f"r{run:03d}", rows_per_file=5)
    heights = [pl.read_parquet(path).height for path in store.files("t")]
    assert heights == [5, 5, 4]
    assert pl.read_parquet(store.files("t"))["n"].to_list() == [*range(10), 101, 102, 103, 104]


def test_a_table_can_hold_more_rows_per_file_than_the_others(tmp_path):
    store = Store(tmp_path / "out")
    rows = pl.DataFrame({"n": list(range(12))})
    store.commit({"t": rows, "u": rows}, "r001", rows_per_file=5, rows_per_file_of={"u": 100})
    assert len(store.files("t")) == 3 and len(store.files("u")) == 1
