# Dependence on the loop target through assignments, unpacking, attributes, subscripts,
# f-strings and arithmetic.
from sqlalchemy import select

from models import Order, User


def attribute_of_target(session, users):
    for u in users:
        print(session.query(Order).filter(Order.user_id == u.id).all())  # expect: INB001


def subscript_of_target(session, rows):
    for row in rows:
        print(session.get(User, row["id"]))  # expect: INB001


def tuple_unpacking(session, pairs):
    for uid, label in pairs:
        print(label, session.get(User, uid))  # expect: INB001


def enumerate_unpacking(session, user_ids):
    for i, uid in enumerate(user_ids):
        print(i, session.get(User, uid))  # expect: INB001


def derived_through_assignment(session, users):
    for u in users:
        key = u.id
        owner_id = key
        print(session.query(Order).filter_by(user_id=owner_id).all())  # expect: INB001


def derived_through_unpacking_assignment(session, rows):
    for row in rows:
        uid, _ = row
        print(session.get(User, uid))  # expect: INB001


def f_string(session, names):
    for name in names:
        print(session.query(User).filter(User.email == f"{name}@example.com").first())  # expect: INB001


def arithmetic(session, ids):
    for i in ids:
        print(session.get(User, i + 1))  # expect: INB001


def augmented_assignment(session, ids):
    offset_id = 0
    for i in ids:
        offset_id += i
        print(session.get(User, offset_id))  # expect: INB001


def walrus(session, rows):
    for row in rows:
        if (uid := row.user_id) is not None:
            print(session.get(User, uid))  # expect: INB001


def keyword_in_filter(session, users):
    for u in users:
        print(session.scalars(select(Order).filter_by(user_id=u.id, status="paid")).all())  # expect: INB001


def self_attribute_state(self, session, ids):
    for i in ids:
        self.current = i
        print(session.get(User, self.current))  # expect: INB001


def with_inside_loop(session, paths):
    for path in paths:
        with open(path) as handle:
            uid = int(handle.read())
        print(session.get(User, uid))  # expect: INB001
