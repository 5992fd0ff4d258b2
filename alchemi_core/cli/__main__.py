import sys

from alchemi_core.cli.main import main

sys.exit(main())
