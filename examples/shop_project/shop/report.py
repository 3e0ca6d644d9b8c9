"""Reports built from the cleaned orders."""
from .clean import drop_duplicate_orders, to_eur
from .io import load_orders


def revenue_by_customer(path):
    """Total revenue in EUR per customer, largest first."""
    orders = to_eur(drop_duplicate_orders(load_orders(path)))
    return orders.groupby("customer_id")["amount_eur"].sum().sort_values(ascending=False)
