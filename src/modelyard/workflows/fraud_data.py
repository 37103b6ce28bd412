"""A deterministic synthetic card-fraud transactions dataset for the demo and the examples.

Fraud is rare (about 1.5 % of rows) and depends, as in real card data, on the amount, the hour,
a foreign country, risky merchant categories, a new device and the card not being present, with
noise so that no model is perfect.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

MERCHANT_CATEGORIES = (
    "grocery",
    "restaurants",
    "fuel",
    "apparel",
    "electronics",
    "travel",
    "gift_cards",
    "digital_goods",
    "health",
    "home",
    "entertainment",
    "utilities",
)
_CATEGORY_SHARE = (0.2, 0.14, 0.1, 0.09, 0.07, 0.05, 0.02, 0.06, 0.07, 0.08, 0.07, 0.05)
_CATEGORY_RISK = {"electronics": 1.1, "gift_cards": 1.9, "digital_goods": 1.3, "travel": 0.7}
COUNTRIES = ("US", "GB", "DE", "FR", "CA", "MX", "BR", "NG", "IN", "RU")
_COUNTRY_SHARE = (0.78, 0.05, 0.04, 0.03, 0.03, 0.02, 0.02, 0.01, 0.01, 0.01)
_COUNTRY_RISK = {"NG": 1.6, "RU": 1.4, "BR": 0.8, "MX": 0.6}
DEVICES = ("mobile", "desktop", "tablet", "pos")
_DEVICE_SHARE = (0.42, 0.2, 0.08, 0.3)
START = datetime(2026, 1, 1, tzinfo=UTC)

FEATURES = (
    "amount",
    "merchant_category",
    "country",
    "device",
    "hour",
    "customer_age",
    "card_present",
    "is_new_device",
)
CATEGORICAL = ("merchant_category", "country", "device")
LABEL = "is_fraud"


def generate_transactions(rows: int = 300_000, seed: int = 7, days: int = 90) -> pd.DataFrame:
    """Return ``rows`` transactions over ``days`` days, ordered by event time.

    Columns: transaction_id, customer_id, event_time (UTC), amount, merchant_category, country,
    device, hour, customer_age, card_present, is_new_device, is_fraud (0/1). The same
    ``(rows, seed, days)`` always gives the same frame.
    """
    rng = np.random.default_rng(seed)
    customers = max(rows // 30, 1)
    customer_id = rng.integers(1, customers + 1, size=rows)
    customer_age = (18 + rng.gamma(4.0, 9.0, size=customers).clip(0, 72)).astype(np.int16)
    seconds = np.sort(rng.integers(0, days * 86_400, size=rows))
    event_time = pd.to_datetime(START) + pd.to_timedelta(seconds, unit="s")
    # Spending is mostly daytime; a night bump carries more fraud.
    hour = np.asarray(event_time.hour, dtype=np.int16)
    category = rng.choice(len(MERCHANT_CATEGORIES), size=rows, p=_CATEGORY_SHARE)
    country = rng.choice(len(COUNTRIES), size=rows, p=_COUNTRY_SHARE)
    device = rng.choice(len(DEVICES), size=rows, p=_DEVICE_SHARE)
    card_present = (np.asarray(DEVICES)[device] == "pos") & (rng.random(rows) < 0.97)
    is_new_device = rng.random(rows) < np.where(card_present, 0.01, 0.06)
    amount = np.round(rng.lognormal(mean=3.4, sigma=1.0, size=rows), 2)

    category_risk = np.array([_CATEGORY_RISK.get(c, 0.0) for c in MERCHANT_CATEGORIES])[category]
    country_risk = np.array([_COUNTRY_RISK.get(c, 0.0) for c in COUNTRIES])[country]
    age = customer_age[customer_id - 1]
    night = (hour <= 4) | (hour >= 23)
    logit = (
        -5.4
        + 0.55 * np.log1p(amount / 60.0)
        + 0.9 * night
        + category_risk
        + country_risk
        + 1.3 * is_new_device
        - 1.1 * card_present
        + 0.5 * (age < 25)
        + 0.25 * (age > 75)
        # Interactions a linear model cannot see: a new device buying big, night abroad.
        + 1.4 * (is_new_device & (amount > 150))
        + 1.0 * (night & (country_risk > 0))
        + rng.normal(0.0, 0.6, size=rows)
    )
    is_fraud = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int8)
    # Fraudsters test cards with large round amounts now and then.
    fraud_rows = np.flatnonzero(is_fraud)
    round_up = fraud_rows[rng.random(fraud_rows.size) < 0.25]
    amount[round_up] = np.round(amount[round_up] * 3, -1) + 100

    return pd.DataFrame(
        {
            "transaction_id": np.arange(1, rows + 1, dtype=np.int64),
            "customer_id": customer_id.astype(np.int64),
            "event_time": event_time,
            "amount": amount,
            "merchant_category": pd.Categorical.from_codes(category, pd.Index(MERCHANT_CATEGORIES)),
            "country": pd.Categorical.from_codes(country, pd.Index(COUNTRIES)),
            "device": pd.Categorical.from_codes(device, pd.Index(DEVICES)),
            "hour": hour,
            "customer_age": age,
            "card_present": card_present,
            "is_new_device": is_new_device,
            LABEL: is_fraud,
        }
    )


def time_split(frame: pd.DataFrame, test_share: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split by event time: the last ``test_share`` of the period is the test set."""
    cut = frame["event_time"].quantile(1.0 - test_share)
    return frame[frame["event_time"] < cut], frame[frame["event_time"] >= cut]
