"""``python -m sipwright``."""

from sipwright.cli.main import main

raise SystemExit(main())
