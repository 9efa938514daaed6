"""INB001: `session.get(User, uid)` once per user id."""

from harness_models import User


def run(session, ids):
    """Each user's e-mail: {user id: email or None for unknown ids}."""
    result = {}
    for uid in ids:
        user = session.get(User, uid)
        result[uid] = user.email if user is not None else None
    return result
