"""Broken on purpose: chunks the raw input without de-duplicating it, so an id repeated in two
chunks has its rows fetched and appended twice (SPEC §1)."""

from collections import defaultdict

from harness_models import Payment, Session


def run(session, ids):
    sessions_by_user_id = defaultdict(list)
    payments_by_user_id = defaultdict(list)
    for i in range(0, len(ids), 1000):
        chunk = ids[i:i + 1000]
        for row in Session.query.filter(Session.user_id.in_(chunk)).all():
            sessions_by_user_id[row.user_id].append(row)
        for row in Payment.query.filter(Payment.user_id.in_(chunk)).all():
            payments_by_user_id[row.user_id].append(row)
    result = {}
    for uid in ids:
        sessions = sessions_by_user_id.get(uid, [])
        payments = payments_by_user_id.get(uid, [])
        result[uid] = {
            "session_count": len(sessions),
            "total_revenue": sum((p.amount or 0) for p in payments),
        }
    return result
