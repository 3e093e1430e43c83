"""``python -m devstack.demo <gateway|order|payment|inventory|notification|traffic>``."""

import sys

from devstack.demo.cli import main

sys.exit(main())
