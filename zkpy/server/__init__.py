"""The ZooKeeper server: data tree, database, sessions, connections, processors."""
