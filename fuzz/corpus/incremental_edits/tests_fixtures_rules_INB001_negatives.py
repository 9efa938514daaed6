# Nothing in this file may be flagged as INB001.
import requests
from sqlalchemy import select

from models import Order, User


def query_runs_once_before_the_loop(session, user_ids):
    orders = session.query(Order).filter(Order.user_id.in_(user_ids)).all()
    for order in orders:
        print(order)


def loop_over_results_of_one_query(session):
    for user in session.query(User).filter(User.active.is_(True)):
        print(user.email)


def comprehension_over_one_query(session):
    return [u.email for u in session.scalars(select(User))]


def chunk_loop_with_in(session, user_ids):
    for i in range(0, len(user_ids), 1000):
        chunk = user_ids[i:i + 1000]
        print(session.query(Order).filter(Order.user_id.in_(chunk)).all())


def chunk_loop_with_statement(session, user_ids):
    for i in range(0, len(user_ids), 500):
        chunk = user_ids[i:i + 500]
        stmt = select(Order).where(Order.user_id.in_(chunk))
        print(session.scalars(stmt).all())


def chunk_loop_django(ids):
    for start in range(0, len(ids), 1000):
        batch = ids[start:start + 1000]
        print(list(Order.objects.filter(customer_id__in=batch)))


def pagination_offset_limit(session):
    page = 0
    while True:
        rows = session.query(Order).order_by(Order.id).offset(page * 100).limit(100).all()
        if not rows:
            break
        page += 1


def pagination_keyset(session):
    last_id = 0
    while True:
        rows = session.scalars(select(Order).where(Order.id > last_id).order_by(Order.id).limit(100)).all()
        if not rows:
            break
        last_id = rows[-1].id


def pagination_django_slices(size):
    start = 0
    while True:
        rows = list(Order.objects.order_by("id")[start:start + size])
        if not rows:
            break
        start += size


def pagination_django_keyset():
    last = 0
    while True:
        rows = list(Order.objects.filter(id__gt=last).order_by("id")[:100])
        if not rows:
            break
        last = rows[-1].id


def retry_loop_breaks_after_query(session, uid):
    for attempt in range(3):
        user = session.get(User, uid + attempt)
        break


def search_loop_returns_after_query(session, candidates):
    for uid in candidates:
        return session.get(User, uid)


def raise_after_query(session, user_ids):
    for uid in user_ids:
        user = session.get(User, uid)
        raise RuntimeError(user)


def break_after_query_in_try(session, user_ids):
    for uid in user_ids:
        try:
            user = session.get(User, uid)
            break
        except KeyError:
            continue


def cache_get_is_not_orm(cache, keys):
    for k in keys:
        print(cache.get(k))


def http_client_get_is_not_orm(urls):
    for url in urls:
        print(requests.get(url))


def dict_get_is_not_orm(lookup, keys):
    for k in keys:
        print(lookup.get(k))


def session_list_is_not_a_session(user_sessions, ids):
    for i in ids:
        print(user_sessions.get(i))


def lowercase_query_attribute_is_not_model_query(searcher, terms):
    for term in terms:
        print(searcher.query.filter_by(term=term))


def query_does_not_depend_on_loop(session, user_ids):
    # Repeated but loop-invariant: INB004's business, not INB001's.
    for uid in user_ids:
        admins = session.query(User).filter(User.is_admin.is_(True)).all()
        print(uid, admins)


def query_in_function_defined_in_loop(session, user_ids):
    loaders = []
    for uid in user_ids:
        def load(key=uid):
            return session.get(User, key)

        loaders.append(load)
    return loaders


def lambda_in_loop_is_deferred(session, user_ids):
    return [lambda: session.get(User, uid) for uid in user_ids]


def write_is_not_a_read_query(session, user_ids):
    from sqlalchemy import update

    for uid in user_ids:
        session.execute(update(User).where(User.id == uid).values(active=False))


def django_write_is_not_a_read_query(ids):
    for i in ids:
        Order.objects.filter(id=i).update(status="shipped")


def loop_variable_only_in_non_orm_call(session, user_ids, log):
    for uid in user_ids:
        log.info("user %s", uid)


def query_after_loop(session, user_ids):
    for uid in user_ids:
        print(uid)
    return session.query(User).filter(User.id == uid).first()


def shadowed_by_else(session, user_ids):
    for uid in user_ids:
        print(uid)
    else:
        print(session.query(Order).count())
