"""The ``bgrem`` command line."""
