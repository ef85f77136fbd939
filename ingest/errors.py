"""Errors a user can fix. The CLI prints the message as one line and exits 2; the page
shows it in a box. Everything else is a bug and keeps its traceback."""


class UserError(Exception):
    pass
