"""INB001 twice: `Order.objects.filter(customer_id=cid, status="paid").count()` and `.exists()`."""

from harness_django import Order


def run(ids):
    """{customer id: (number of paid orders, has an open order)}."""
    result = {}
    for cid in ids:
        paid = Order.objects.filter(customer_id=cid, status="paid").count()
        has_open = Order.objects.filter(customer_id=cid, status="open").exists()
        result[cid] = (paid, has_open)
    return result
