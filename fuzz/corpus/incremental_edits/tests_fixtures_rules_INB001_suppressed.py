# Suppression comments silence INB001.
from models import Order, User


def noqa_code(session, user_ids):
    for uid in user_ids:
        print(session.get(User, uid))  # noqa: INB001


def bare_noqa(session, user_ids):
    for uid in user_ids:
        print(session.get(User, uid))  # noqa


def inbatch_ignore(session, user_ids):
    for uid in user_ids:
        print(session.get(User, uid))  # inbatch: ignore[INB001]


def other_code_does_not_suppress(session, user_ids):
    for uid in user_ids:
        print(session.query(Order).filter_by(user_id=uid).all())  # noqa: E501  # expect: INB001


def shared_noqa_with_other_tools(session, user_ids):
    for uid in user_ids:
        print(session.get(User, uid))  # noqa: E501, INB001
