"""`python -m loader` runs the command line."""

from loader.shell.cli import main

main()
