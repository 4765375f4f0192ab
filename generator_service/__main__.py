"""`python -m generator_service` entry point."""

import sys

from .cli import main

sys.exit(main(program=True))
