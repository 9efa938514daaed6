"""INB001: `session.query(Payment).filter(Payment.user_id == uid).all()` once per user id."""

from harness_models import Payment


def run(session, ids):
    """Payments of each user as (id, amount) pairs; `amount` may be None."""
    result = {}
    for uid in ids:
        payments = session.query(Payment).filter(Payment.user_id == uid).all()
        result[uid] = [(p.id, p.amount) for p in payments]
    return result
