"""Allow `python -m mailengine`."""

from mailengine.cli.main import main

main()
