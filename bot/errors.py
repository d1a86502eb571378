"""Errors that carry a polite message a resident may see (never a traceback)."""


class UserFacingError(Exception):
    """Raised by library code when the user did something we can explain in Chinese."""

    def __init__(self, message: str, *, code: str = "invalid_input"):
        super().__init__(message)
        self.message = message
        self.code = code
