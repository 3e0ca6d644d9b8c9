"""Discounts and taxes."""
from shop.models import Order

VAT_RATE = 0.2


def apply_discount(order: Order, rate: float) -> Order:
    return Order(order.order_id, order.customer, round(order.amount * (1 - rate), 2))


def with_vat(amount: float) -> float:
    return amount * (1 + VAT_RATE)
