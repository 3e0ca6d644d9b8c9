"""Reading orders from CSV exports."""
import csv

from .models import Customer, Order


class OrderReader:
    """Streams rows of an export file as dictionaries."""

    def __init__(self, path):
        self.path = path

    def rows(self):
        with open(self.path, newline="") as fh:
            yield from csv.DictReader(fh)


def load_orders(path):
    """Load orders; rows without a customer id are dropped because they cannot be billed."""
    orders = []
    for row in OrderReader(path).rows():
        if not row.get("customer_id"):
            continue
        orders.append(Order(row["order_id"], Customer(row["customer_id"], row.get("name", "")), float(row["amount"])))
    return orders
