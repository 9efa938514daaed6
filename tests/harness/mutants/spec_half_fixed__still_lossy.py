"""Broken fix of the SPEC §1 half-fixed code: chunked, indexed, NULL-safe — but still keyed by
`user_id` in a plain dict, so each user keeps one session and one payment (INB102 not fixed)."""

from harness_models import Payment, Session


def run(session, user_ids):
    keys = list(dict.fromkeys(user_ids))
    sessions_by_user, payments_by_user = {}, {}
    for i in range(0, len(keys), 1000):
        chunk = keys[i:i + 1000]
        sessions_by_user.update({s.user_id: s for s in Session.query.filter(Session.user_id.in_(chunk)).all()})
        payments_by_user.update({p.user_id: p for p in Payment.query.filter(Payment.user_id.in_(chunk)).all()})
    result = {}
    for uid in user_ids:
        user_sessions = [sessions_by_user[uid]] if uid in sessions_by_user else []
        user_payments = [payments_by_user[uid]] if uid in payments_by_user else []
        result[uid] = {
            "session_count": len(user_sessions),
            "total_revenue": sum((p.amount or 0) for p in user_payments),
        }
    return result
