import sys

from secagg.cli import main

sys.exit(main())
