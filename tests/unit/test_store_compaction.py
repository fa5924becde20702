"""Store compaction: a table that gains a small file every run keeps a few files per
size tier, merged in run order, and never gives a file name other rows."""
import polars as pl

from storage.store import Store


def test_one_row_runs_merge_like_a_binary_counter_and_keep_row_order(tmp_path):
    """Read by hand: a small file merges with the files after it when it holds no more
    rows than they do together, so after n one-row runs the files are n's binary digits:
    7 runs leave files of 4, 2 and 1 rows; 16 runs one of 16; 20 runs 16 and 4."""
    store = Store(tmp_path / "out")
    seen_names: dict[str, bytes] = {}
    for run in range(1, 21):
        store.commit({"t": pl.DataFrame({"n": [run]})}, f"r{run:03d}", rows_per_file=100)
        files = store.files("t")
        assert len(files) == bin(run).count("1"), run
        assert pl.read_parquet(files)["n"].to_list() == list(range(1, run + 1))
        for path in files:  # a name, once used, always holds the same rows
            assert seen_names.setdefault(path.name, path.read_bytes()) == path.read_bytes()
    assert [pl.read_parquet(path).height for path in store.files("t")] == [16, 4]


def test_runs_of_different_sizes_still_merge(tmp_path):
    """32 runs of 1 and 5 rows in turn (96 rows): each small file holds more rows than
    all the newer ones together, so their sizes at least double: at most 7 files."""
    store = Store(tmp_path / "out")
    values = []
    for run in range(32):
        rows = list(range(len(values), len(values) + (1 if run % 2 else 5)))
        values += rows
        store.commit({"t": pl.DataFrame({"n": rows})}, f"r{run:03d}", rows_per_file=1000)
    heights = [pl.read_parquet(path).height for path in store.files("t")]
    assert len(heights) <= 7 and all(older > sum(heights[i + 1:]) for i, older in enumerate(heights[:-1]))
    assert pl.read_parquet(store.files("t"))["n"].to_list() == values


def test_a_merge_is_written_in_files_of_rows_per_file(tmp_path):
    """Runs of 2 rows, 5 rows per file, read by hand: [2] [2,2]->[4] [4,2] [4,2,2]->8
    rows as [5,3] [5,3,2] [5,3,2,2]->7 rows as [5,2] after the full file: [5,5,2]."""
    store = Store(tmp_path / "out")
    for run in range(6):
        store.commit({"t": pl.DataFrame({"n": [2 * run, 2 * run + 1]})}, f"r{run:03d}", rows_per_file=5)
    assert [pl.read_parquet(path).height for path in store.files("t")] == [5, 5, 2]
    assert pl.read_parquet(store.files("t"))["n"].to_list() == list(range(12))


def test_files_that_cannot_be_read_as_one_are_left_as_they_are(tmp_path):
    store = Store(tmp_path / "out")
    store.commit({"t": pl.DataFrame({"n": [1]}, schema={"n": pl.Int64})}, "r001", rows_per_file=100)
    store.commit({"t": pl.DataFrame({"n": [2]}, schema={"n": pl.Int32})}, "r002", rows_per_file=100)
    assert len(store.files("t")) == 2
    assert not list(store.current().glob("t/*.merging"))


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
