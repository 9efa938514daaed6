"""INB001: `session.query(Profile).filter(Profile.user_id == uid).one_or_none()` once per user."""

from harness_models import Profile


def run(session, ids):
    """Each user's profile bio: {user id: bio}; "<no profile>" without one (bios may be None)."""
    result = {}
    for uid in ids:
        profile = session.query(Profile).filter(Profile.user_id == uid).one_or_none()
        result[uid] = profile.bio if profile is not None else "<no profile>"
    return result
