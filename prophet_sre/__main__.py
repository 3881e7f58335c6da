"""`python -m prophet_sre` is the `prophet` command."""

from prophet_sre.cli import main

if __name__ == "__main__":
    main()
