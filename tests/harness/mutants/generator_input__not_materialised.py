"""Broken on purpose: iterates a one-shot `ids` twice without `list(...)` first."""

from collections import defaultdict

from harness_models import Payment


def run(session, ids):
    payments_by_user_id = defaultdict(list)
    keys = list(dict.fromkeys(ids))
    for i in range(0, len(keys), 1000):
        for row in Payment.query.filter(Payment.user_id.in_(keys[i:i + 1000])).all():
            payments_by_user_id[row.user_id].append(row)
    return [(uid, len(payments_by_user_id.get(uid, []))) for uid in ids]
