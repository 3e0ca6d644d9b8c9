"""Reading the order export."""
import pandas as pd

REQUIRED = ["order_id", "customer_id", "amount", "currency"]


def load_orders(path):
    """Orders as a DataFrame, one row per order."""
    orders = pd.read_csv(path)
    missing = [c for c in REQUIRED if c not in orders.columns]
    if missing:
        raise ValueError(f"{path} lacks columns {missing}")
    # Drop incomplete rows. (This also drops every order without a coupon code,
    # because `coupon` is optional and mostly empty — the bug the example asks about.)
    return orders.dropna()
