"""`python -m luaflow` runs the CLI."""

from luaflow.cli import main

main()
