"""Broken on purpose: unknown ids silently dropped where the original raised."""

from harness_django import Customer


def run(ids):
    keys = list(dict.fromkeys(ids))
    by_pk = {}
    for i in range(0, len(keys), 1000):
        by_pk.update(Customer.objects.in_bulk(keys[i:i + 1000]))
    return [by_pk[cid].name for cid in ids if cid in by_pk]
