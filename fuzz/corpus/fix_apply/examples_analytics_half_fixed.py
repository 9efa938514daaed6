"""The reviewed "fix" from SPEC §1: batched SQL, yet still wrong three ways (INB101, INB102, INB301)."""

from .models import Payment, Session


def get_user_analytics(user_ids: list[int]) -> dict[int, dict]:
    sessions_by_user = {s.user_id: s for s in Session.query.filter(Session.user_id.in_(user_ids)).all()}
    payments_by_user = {p.user_id: p for p in Payment.query.filter(Payment.user_id.in_(user_ids)).all()}
    result = {}
    for uid in user_ids:
        user_sessions = [s for s in sessions_by_user.values() if s.user_id == uid]
        user_payments = [p for p in payments_by_user.values() if p.user_id == uid]
        result[uid] = {
            "session_count": len(user_sessions),
            "total_revenue": sum(p.amount for p in user_payments),
        }
    return result
