"""The `scope-graph` command line."""
