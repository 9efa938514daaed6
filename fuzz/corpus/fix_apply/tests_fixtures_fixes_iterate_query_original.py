"""INB001: the inner loop iterates `session.query(Session).filter_by(user_id=uid)` once per user."""

from harness_models import Session


def run(session, ids):
    """`started` values of each user's sessions: {user id: [int, ...]}."""
    result = {}
    for uid in ids:
        started = []
        for s in session.query(Session).filter_by(user_id=uid):
            started.append(s.started)
        result[uid] = started
    return result
