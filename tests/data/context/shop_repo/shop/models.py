"""Plain data classes for orders and customers."""
from dataclasses import dataclass


@dataclass
class Customer:
    customer_id: str
    name: str


@dataclass
class Order:
    order_id: str
    customer: Customer
    amount: float
