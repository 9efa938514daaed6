"""INB001: `session.query(Order).filter_by(customer_id=cid).all()` inside a list comprehension."""

from harness_models import Order


def run(session, ids):
    """[[Order, ...] per customer id], in input order."""
    return [session.query(Order).filter_by(customer_id=cid).all() for cid in ids]
