"""``python -m tests.adversarial [--json FILE] [--only WORD] [--all] [--list] ...``"""

import sys

from tests.adversarial.harness import main

sys.exit(main())
