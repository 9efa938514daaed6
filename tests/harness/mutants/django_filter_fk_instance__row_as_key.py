"""Mutant: the rewrite inbatch made before issue 19, looking the row itself up in groups keyed by
`customer_id`: every customer gets no orders and a count of 0."""

from collections import defaultdict

from django.db.models import Count

from harness_django import Customer, Order


def run(ids):
    """Per customer, in input order: (order ids, order count)."""
    customers = [Customer(pk=cid) for cid in ids]  # rows built elsewhere, with their keys
    orders_by_customer_id = defaultdict(list)
    counts_by_customer_id = {}
    keys = list(dict.fromkeys(getattr(customer, "pk", customer) for customer in customers))
    for i in range(0, len(keys), 1000):
        chunk = keys[i:i + 1000]
        for row in Order.objects.filter(customer__in=chunk).order_by("pk"):
            orders_by_customer_id[row.customer_id].append(row)
        counts_by_customer_id.update(
            Order.objects.filter(customer__in=chunk).order_by().values_list("customer").annotate(Count("pk"))
        )
    result = []
    for customer in customers:
        orders = list(orders_by_customer_id.get(customer, []))
        count = counts_by_customer_id.get(customer, 0)
        result.append(([o.pk for o in orders], count))
    return result
