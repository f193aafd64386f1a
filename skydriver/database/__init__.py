"""MongoDB access: the only package that touches collections. One module per collection, a connection module."""

from .backlog import BacklogStore
from .connection import Database, open_database
from .events import EventStore
from .health import DatabaseHealth
from .manifests import ManifestStore
from .results import ResultStore

__all__ = ["BacklogStore", "Database", "DatabaseHealth", "EventStore", "ManifestStore", "ResultStore", "open_database"]
