"""`python -m skydriver`: the `skydriver` command; with no arguments it runs the server, as it always has."""

import sys

from skydriver.cli import main

sys.exit(main(sys.argv[1:] or ["serve"]))
