"""Typed errors raised by library code; only cli.py catches them and prints one line."""


class MinewatchError(Exception):
    """Base of every error Minewatch reports to the user."""


class CaptureError(MinewatchError):
    """A capture could not be read (any further); says where reading stopped.

    byte_offset is the offset in the (decompressed) capture stream where the
    damage starts; record_index is how many records were read before it.
    """

    def __init__(self, path, message, byte_offset=None, record_index=None):
        self.path = str(path)
        self.message = message
        self.byte_offset = byte_offset
        self.record_index = record_index
        super().__init__(str(self))

    def __str__(self):
        where = ""
        if self.byte_offset is not None:
            where = f" at byte {self.byte_offset}"
        if self.record_index is not None:
            where += f" after {self.record_index} records"
        return f"{self.path}: {self.message}{where}"


class SignatureError(MinewatchError):
    """A signature file is invalid: names the file, line and field."""

    def __init__(self, file, message, line=None, key=None):
        self.file, self.line, self.key = str(file), line, key
        loc = self.file + (f":{line}" if line is not None else "")
        field = f" [{key}]" if key else ""
        super().__init__(f"{loc}{field}: {message}")


class ConfigError(MinewatchError):
    """An option or configuration value is invalid."""


class SubscriberMapError(MinewatchError):
    """A subscriber map (--subscribers) is invalid: one line, `FILE:LINE: what is wrong`."""

    def __init__(self, file, message, line=None):
        # one line whatever the file holds: control characters are shown escaped
        message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        self.file, self.line, self.message = str(file), line, message
        loc = self.file + (f":{line}" if line is not None else "")
        super().__init__(f"{loc}: {message}")
