"""`python -m l2zoo`: the command line."""

from l2zoo.cli import main

main()
