"""INB001: `session.scalars(select(Order).where(Order.customer_id == cid)).all()` per customer."""

from sqlalchemy import select

from harness_models import Order


def run(session, ids):
    """Orders of each customer: {customer id: [Order, ...]}."""
    result = {}
    for cid in ids:
        orders = session.scalars(select(Order).where(Order.customer_id == cid)).all()
        result[cid] = orders
    return result
