"""Broken INB201 rewrite: swallows the TypeError and reports 0 instead of the NULL-as-0 total."""

from harness_models import Payment


def run(session, ids):
    wanted = set(ids)
    payments = [p for p in Payment.query.order_by(Payment.id).all() if p.user_id in wanted]
    try:
        return sum(p.amount for p in payments)
    except TypeError:
        return 0
