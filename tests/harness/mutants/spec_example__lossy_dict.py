"""Broken on purpose (SPEC §1's "half fix", INB102): a dict keyed by the non-unique user_id keeps
one session and one payment per user."""

from harness_models import Payment, Session


def run(session, ids):
    sessions_by_user = {s.user_id: s for s in Session.query.filter(Session.user_id.in_(ids)).all()}
    payments_by_user = {p.user_id: p for p in Payment.query.filter(Payment.user_id.in_(ids)).all()}
    result = {}
    for uid in ids:
        user_sessions = [s for s in sessions_by_user.values() if s.user_id == uid]
        user_payments = [p for p in payments_by_user.values() if p.user_id == uid]
        result[uid] = {
            "session_count": len(user_sessions),
            "total_revenue": sum((p.amount or 0) for p in user_payments),
        }
    return result
