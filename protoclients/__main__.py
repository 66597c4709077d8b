"""``python -m protoclients``: the command line."""

from protoclients_cli.app import main

if __name__ == "__main__":
    main()
