"""INB001: `Customer.objects.get(pk=cid)` once per customer id."""

from harness_django import Customer


def run(ids):
    """Customer names in input order; an unknown id raises."""
    names = []
    for cid in ids:
        customer = Customer.objects.get(pk=cid)
        names.append(customer.name)
    return names
