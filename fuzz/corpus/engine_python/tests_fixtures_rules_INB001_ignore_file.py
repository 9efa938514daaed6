# inbatch: ignore-file
from models import User


def would_be_flagged(session, user_ids):
    for uid in user_ids:
        print(session.get(User, uid))
