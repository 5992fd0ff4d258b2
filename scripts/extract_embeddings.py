"""`python scripts/extract_embeddings.py --config FILE` is `alchemi extract --config FILE`."""

import sys

from alchemi_core.cli import main

if __name__ == "__main__":
    sys.exit(main(["extract", *sys.argv[1:]]))
