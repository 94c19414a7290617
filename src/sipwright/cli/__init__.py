"""The ``sipwright`` command line."""
