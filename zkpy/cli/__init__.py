"""Command-line tools: zkCli, ``zkServer.sh status``, four-letter words."""
