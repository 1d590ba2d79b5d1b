"""The application shell: the command line, the demo, the terminal's progress and the benchmark.

Nothing below `loader` imports this package; it imports the library and the sources.
"""
