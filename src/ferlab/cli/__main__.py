"""`python -m ferlab.cli`: the `ferlab` command."""

import sys

from ferlab.cli import main

sys.exit(main())
