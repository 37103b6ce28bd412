"""Data contracts: declared columns and rules, checked in one vectorised DuckDB pass."""

from modelyard.contracts.compatibility import CompatibilityReport, ContractChange, compare_contracts
from modelyard.contracts.contract import ColumnSpec, Contract, load_contract
from modelyard.contracts.dtypes import CONTRACT_TYPES
from modelyard.contracts.inference import infer_contract
from modelyard.contracts.report import RuleResult, ValidationReport
from modelyard.contracts.rules import (
    CategoryShare,
    Check,
    Freshness,
    LabelRate,
    Mean,
    Quantile,
    RowCount,
    TableRule,
)
from modelyard.contracts.sources import ValidationData
from modelyard.contracts.store import ContractStore, StoredContract, StoredReport

__all__ = [
    "CONTRACT_TYPES",
    "CategoryShare",
    "Check",
    "ColumnSpec",
    "CompatibilityReport",
    "Contract",
    "ContractChange",
    "ContractStore",
    "Freshness",
    "LabelRate",
    "Mean",
    "Quantile",
    "RowCount",
    "RuleResult",
    "StoredContract",
    "StoredReport",
    "TableRule",
    "ValidationData",
    "ValidationReport",
    "compare_contracts",
    "infer_contract",
    "load_contract",
]
