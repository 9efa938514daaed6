"""INB001: `Session.query.filter_by(user_id=uid).count()` once per user id."""

from harness_models import Session


def run(session, ids):
    """Number of login sessions of each user: {user id: int}."""
    result = {}
    for uid in ids:
        result[uid] = Session.query.filter_by(user_id=uid).count()
    return result
