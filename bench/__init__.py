"""zkpy's benchmark: a pipelined load generator and the side-by-side report
against Java ZooKeeper 3.8 (``make bench``; see bench/README.md)."""
