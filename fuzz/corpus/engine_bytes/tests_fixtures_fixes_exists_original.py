"""INB001: `session.query(session.query(Payment).filter(...).exists()).scalar()` once per user."""

from harness_models import Payment


def run(session, ids):
    """Which users have at least one payment: {user id: bool}."""
    result = {}
    for uid in ids:
        result[uid] = session.query(session.query(Payment).filter(Payment.user_id == uid).exists()).scalar()
    return result
