"""INB001: `session.execute(select(Payment).where(Payment.user_id == uid)).scalars()` per user."""

from sqlalchemy import select

from harness_models import Payment


def run(session, ids):
    """Payment amounts of each user (None for pending ones): {user id: [amount, ...]}."""
    result = {}
    for uid in ids:
        payments = session.execute(select(Payment).where(Payment.user_id == uid)).scalars().all()
        result[uid] = [p.amount for p in payments]
    return result
