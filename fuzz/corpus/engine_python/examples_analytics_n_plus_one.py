"""The N+1 version from SPEC §1: two queries per user id."""

from .models import Payment, Session


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
