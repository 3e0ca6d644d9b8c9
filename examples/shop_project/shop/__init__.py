"""Order analysis for a small online shop: load, clean, report."""
from .io import load_orders
from .report import revenue_by_customer

__all__ = ["load_orders", "revenue_by_customer"]
