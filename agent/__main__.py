"""`python -m agent` runs the same CLI as the `nodeward` console script."""

from agent.cli import main

main()
