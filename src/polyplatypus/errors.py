"""Errors a user can act on: each names the file, record and field at fault."""


class PolyplatypusError(Exception):
    """Base class for errors reported to the user without a traceback."""


class DataError(PolyplatypusError):
    """Input data is missing or malformed."""

    def __init__(self, message: str, *, path=None, record=None, field=None, line=None):
        where = []
        if path is not None:
            where.append(str(path))
        if record is not None:
            where.append(f"record {record}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = ", ".join(where) + (f" (line {line})" if line is not None else "")
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.path, self.record, self.field, self.line = path, record, field, line


class ConfigError(PolyplatypusError):
    """A configuration value or command-line option is invalid."""


class OutputError(PolyplatypusError):
    """An output path cannot be used: a file where a folder is needed, a folder holding something
    else, a place that cannot be written, or a folder another process is writing."""


class OutputInUseError(OutputError):
    """Another live process holds the output's lock."""
