import sys

from moodlens.cli import main

sys.exit(main())
