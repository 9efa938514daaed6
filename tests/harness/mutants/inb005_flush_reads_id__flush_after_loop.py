"""Broken: the flush moved after the loop, so the loop reads the ids before they exist."""

from harness_models import Customer


def run(session, ids):
    created = []
    for uid in ids:
        customer = Customer(name=f"new-{uid}")
        session.add(customer)
        created.append((uid, customer.id))
    session.flush()
    return created
