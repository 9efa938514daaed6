"""INB001: `Order.objects.filter(customer=cid)` evaluated once per customer id."""

from harness_django import Order


def run(ids):
    """Orders of each customer, oldest placement first: {customer id: [Order, ...]}."""
    result = {}
    for cid in ids:
        result[cid] = list(Order.objects.filter(customer=cid).order_by("placed"))
    return result
