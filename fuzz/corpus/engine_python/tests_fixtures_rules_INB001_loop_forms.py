# Every loop form.
from sqlalchemy import select

from models import Node, Order, User


def while_loop(session, queue):
    while queue:
        uid = queue.pop()
        print(session.get(User, uid))  # expect: INB001


def while_walks_a_chain(session, node):
    while node is not None:
        node = session.get(Node, node.parent_id)  # expect: INB001


def list_comprehension(session, user_ids):
    return [session.get(User, uid) for uid in user_ids]  # expect: INB001


def set_comprehension(session, user_ids):
    return {session.scalar(select(User.email).where(User.id == uid)) for uid in user_ids}  # expect: INB001


def dict_comprehension(session, user_ids):
    return {uid: session.query(Order).filter_by(user_id=uid).count() for uid in user_ids}  # expect: INB001


def generator_expression(session, user_ids):
    return sum(session.query(Order).filter_by(user_id=uid).count() for uid in user_ids)  # expect: INB001


def nested_loops_inner(session, groups):
    for group in groups:
        for uid in group.member_ids:
            print(session.get(User, uid))  # expect: INB001


def nested_loops_outer_only(session, user_ids, days):
    for uid in user_ids:
        for day in days:
            print(day)
        print(session.query(Order).filter_by(user_id=uid).all())  # expect: INB001


def comprehension_second_clause(session, groups):
    return [session.get(User, uid) for group in groups for uid in group]  # expect: INB001


def comprehension_iterable_of_inner_clause(session, user_ids):
    return [o for uid in user_ids for o in session.query(Order).filter_by(user_id=uid)]  # expect: INB001


def loop_with_else(session, user_ids):
    for uid in user_ids:
        print(session.get(User, uid))  # expect: INB001
    else:
        print("done")


def conditional_break_still_loops(session, user_ids):
    for uid in user_ids:
        user = session.get(User, uid)  # expect: INB001
        if user is None:
            break
