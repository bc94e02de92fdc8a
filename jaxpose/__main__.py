import sys

from jaxpose.cli.main import main

sys.exit(main())
