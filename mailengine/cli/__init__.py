"""The `mailengine` command line: the top layer, which may import every package and which
nothing imports."""
