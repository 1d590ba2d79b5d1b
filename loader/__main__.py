"""`python -m loader` runs the command line."""

from loader.cli import main

main()
