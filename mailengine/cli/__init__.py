"""The `mailengine` command line."""
