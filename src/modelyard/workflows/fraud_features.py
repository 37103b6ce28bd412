"""The demo's feature definitions: customer and merchant activity over the transactions dataset.

Apply them from a shell with ``modelyard features apply src/modelyard/workflows/fraud_features.py``.
Every feature is a window over past transactions, computed point-in-time for training and
materialized for serving from the same definition. The views read the version of the dataset
tagged ``validated``: the last one the data contract let through, so a broken export never
reaches the features.
"""

from __future__ import annotations

from modelyard.features import Aggregation, DatasetSource, Entity, FeatureView

CUSTOMER = Entity("customer", ("customer_id",), description="A card holder.")
MERCHANT = Entity(
    "merchant", ("merchant_category",), description="A merchant (by category in the demo)."
)

CUSTOMER_ACTIVITY = FeatureView(
    "customer_activity",
    entities=("customer",),
    source=DatasetSource("transactions", tag="validated"),
    timestamp_field="event_time",
    aggregations=(
        Aggregation("amount", "count", "1h", name="customer_txn_count_1h"),
        Aggregation("amount", "count", "24h", name="customer_txn_count_24h"),
        Aggregation("amount", "sum", "24h", name="customer_amount_sum_24h"),
        Aggregation("amount", "count", "7d", name="customer_txn_count_7d"),
    ),
    # The demo's export is a past quarter: a year keeps its customers servable for the demo.
    ttl="365d",
    owner="fraud-team@example.com",
    description="How busy a card holder has been: bursts of spending precede many frauds.",
)

MERCHANT_ACTIVITY = FeatureView(
    "merchant_activity",
    entities=("merchant",),
    source=DatasetSource("transactions", tag="validated"),
    timestamp_field="event_time",
    aggregations=(Aggregation("amount", "count", "1h", name="merchant_txn_count_1h"),),
    ttl="1d",
    owner="fraud-team@example.com",
    description="Traffic at the merchant in the last hour.",
)

DEFINITIONS = (CUSTOMER, MERCHANT, CUSTOMER_ACTIVITY, MERCHANT_ACTIVITY)
FEATURE_REFS = tuple(
    f"{view.name}:{name}"
    for view in (CUSTOMER_ACTIVITY, MERCHANT_ACTIVITY)
    for name in view.output_names
)
FEATURE_COLUMNS = tuple(ref.split(":", 1)[1] for ref in FEATURE_REFS)
