"""The metadata database: tables on one MetaData, engines, transactions and migrations."""

from modelyard.metastore.engine import Metastore, connect
from modelyard.metastore.migrate import current_revision, head_revision, upgrade

__all__ = ["Metastore", "connect", "current_revision", "head_revision", "upgrade"]
