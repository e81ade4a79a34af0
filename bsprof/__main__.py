"""``python -m bsprof``."""

from bsprof.cli import main

if __name__ == "__main__":
    main()
