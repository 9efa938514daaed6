"""INB001 without a fix: each iteration inserts a session row and flushes before querying, so the
query sees the row written in the same iteration; batching it before the loop would miss it."""

from harness_models import Session


def run(session, ids):
    """{user id: number of sessions, counting the one just started}."""
    result = {}
    for uid in ids:
        session.add(Session(user_id=uid, started=0))
        session.flush()
        result[uid] = len(session.query(Session).filter_by(user_id=uid).all())
    return result
