import sys

from galseg.cli.main import main

sys.exit(main())
