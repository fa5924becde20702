"""The dataset on disk (snapshots, the writer's lock, compaction) and the fault-injection
points its tests stop runs at: below the flow and the tasks, which both write through it."""
