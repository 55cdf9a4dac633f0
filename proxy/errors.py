"""Exceptions for conditions nobody expects; expected outcomes are values (see replies.py).

WardenError
├── StartupError      a dependency or file needed at start is unusable
└── MigrationError    a migration failed or the applied history does not match the files
"""


class WardenError(Exception):
    """Base of Warden's own exceptions."""


class StartupError(WardenError):
    pass


class MigrationError(WardenError):
    pass
