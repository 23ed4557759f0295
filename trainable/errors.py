"""The one exception the command lines turn into a single line and exit code 2."""


class UserError(Exception):
    """Bad input from the user: printed as one line, exit code 2, no traceback."""
