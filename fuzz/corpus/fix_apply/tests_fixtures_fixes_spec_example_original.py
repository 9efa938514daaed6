"""SPEC §1, the N+1 version: two queries per user id (the `sum` is INB201's business)."""

from harness_models import Payment, Session


def get_user_analytics(user_ids: list[int]) -> dict[int, dict]:
    result = {}
    for uid in user_ids:
        sessions = Session.query.filter_by(user_id=uid).all()
        payments = Payment.query.filter_by(user_id=uid).all()
        result[uid] = {
            "session_count": len(sessions),
            "total_revenue": sum(p.amount for p in payments),
        }
    return result


def run(session, ids):
    return get_user_analytics(ids)
