"""Errors a user can cause (bad names, bad phase counts, missing data).

cli.py turns a UserError into a one-line "Error: ..." and exit code 2; anything else is a bug
and keeps its traceback.
"""


class UserError(Exception):
    """A mistake the user can fix; the message is one line and says how."""


class RunDiverged(UserError):
    """The training loss became NaN or infinite: the run's later numbers would mean nothing."""
