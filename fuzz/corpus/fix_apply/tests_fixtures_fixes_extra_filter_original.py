"""INB001: `Order.query.filter(Order.customer_id == cid, Order.status == "paid")` per customer."""

from harness_models import Order


def run(session, ids):
    """Paid orders of each customer by placement: {customer id: [(order id, total), ...]}."""
    result = {}
    for cid in ids:
        paid = Order.query.filter(Order.customer_id == cid, Order.status == "paid").order_by(Order.placed).all()
        result[cid] = [(o.id, o.total) for o in paid]
    return result
