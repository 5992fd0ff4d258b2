"""`python scripts/predict.py --config FILE` is `alchemi predict --config FILE`."""

import sys

from alchemi_core.cli import main

if __name__ == "__main__":
    sys.exit(main(["predict", *sys.argv[1:]]))
