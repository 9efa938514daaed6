"""Broken on purpose: `.first()` turned into "the last row of the key" (plain assignment)."""

from harness_models import Order


def run(session, ids):
    latest_by_customer_id = {}
    keys = list(dict.fromkeys(ids))
    for i in range(0, len(keys), 1000):
        chunk = keys[i:i + 1000]
        for row in Order.query.filter(Order.customer_id.in_(chunk)).order_by(Order.placed.desc()).all():
            latest_by_customer_id[row.customer_id] = row
    result = {}
    for cid in ids:
        latest = latest_by_customer_id.get(cid)
        result[cid] = latest.id if latest is not None else None
    return result
