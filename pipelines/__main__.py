"""`python -m pipelines ...`: the command line for analysts and schedulers."""

import sys

from pipelines.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
