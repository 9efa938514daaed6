"""INB001: `Session.query.filter_by(user_id=uid).all()` once per user id."""

from harness_models import Session


def run(session, ids):
    """Login sessions of each user: {user id: [Session, ...]} (unknown ids map to [])."""
    result = {}
    for uid in ids:
        sessions = Session.query.filter_by(user_id=uid).all()
        result[uid] = sessions
    return result
