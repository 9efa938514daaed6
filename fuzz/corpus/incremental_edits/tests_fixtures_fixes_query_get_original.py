"""INB001: `Customer.query.get(cid)` once per customer id."""

from harness_models import Customer


def run(session, ids):
    """Customer names in input order; None for unknown ids."""
    names = []
    for cid in ids:
        customer = Customer.query.get(cid)
        names.append(customer.name if customer else None)
    return names
