"""INB001: `Payment.query.filter_by(user_id=u.id).all()` once per loaded user."""

from sqlalchemy import select

from harness_models import Payment, User


def run(session, ids):
    """{user e-mail: [payment amount, ...]} for the known users among `ids`."""
    users = session.scalars(select(User).where(User.id.in_(ids)).order_by(User.id)).all()
    result = {}
    for u in users:
        payments = Payment.query.filter_by(user_id=u.id).all()
        result[u.email] = [p.amount for p in payments]
    return result
