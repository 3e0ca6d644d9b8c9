"""Monthly sales reports."""
from shop.io import load_orders
from shop.pricing import with_vat


def monthly_report(path):
    orders = load_orders(path)
    return {"count": len(orders), "total": sum(with_vat(o.amount) for o in orders)}
