"""INB001: `User.query.filter(User.id == uid).one()` once per user id."""

from harness_models import User


def run(session, ids):
    """The e-mail of each user, in input order; an unknown id raises."""
    emails = []
    for uid in ids:
        user = User.query.filter(User.id == uid).one()
        emails.append(user.email)
    return emails
