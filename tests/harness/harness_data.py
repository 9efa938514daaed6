"""The seeded data set, shared by the SQLAlchemy and the Django databases, and the call inputs.

Shape of the data (all deterministic):
- users / customers 1..3000, so that 2,500 distinct known ids exist (chunking at 1000 is exercised);
- user u has `u % 4` login sessions and `u % 3` payments: several rows per key, and keys with none;
- a user's rows are inserted in rounds (first row of every user, then the second, ...), so one key's
  rows are never adjacent in insertion order;
- the first payment of every user with `u % 10 == 7` has a NULL `amount`; profile bios and order
  totals are NULL on a pattern too;
- users with `u % 6 == 0` have no profile (`.one_or_none()` → None, `.one()` raises);
- customer c has `c % 5` orders whose `placed` value is a permutation of the insertion order, so
  `order_by(Order.placed)` is not the primary-key order.
"""

import random
from decimal import Decimal

N_KEYS = 3000
UNKNOWN = [999_999, 1_000_001, 1_234_567]


def users():
    return [{"id": u, "email": f"user{u}@example.com"} for u in range(1, N_KEYS + 1)]


def sessions():
    rows = []
    for k in range(3):
        for u in range(1, N_KEYS + 1):
            if k < u % 4:
                rows.append({"user_id": u, "started": (u * 7 + k * 13) % 1009})
    return rows


def payments():
    rows = []
    for k in range(2):
        for u in range(1, N_KEYS + 1):
            if k < u % 3:
                amount = None if (u % 10 == 7 and k == 0) else Decimal(f"{(u * (k + 3)) % 500}.{u % 100:02d}")
                rows.append({"user_id": u, "amount": amount, "status": "paid" if (u + k) % 2 else "pending"})
    return rows


def profiles():
    return [
        {"user_id": u, "bio": None if u % 4 == 1 else f"bio of {u}"}
        for u in range(1, N_KEYS + 1)
        if u % 6 != 0
    ]


def customers():
    return [{"id": c, "name": f"customer {c}"} for c in range(1, N_KEYS + 1)]


def accounts():
    """Django only: one account per customer id as `number`, inserted in reverse, so that an
    account's primary key is never its number."""
    return [{"number": c, "holder": f"holder {c}", "tier": c % 7} for c in range(N_KEYS, 0, -1)]


def orders():
    """Order ids are 1.. in this list's order (the databases assign them on insert)."""
    rows = []
    for k in range(4):
        for c in range(1, N_KEYS + 1):
            if k < c % 5:
                rows.append(
                    {
                        "customer_id": c,
                        "status": "paid" if (c + k) % 2 == 0 else "open",
                        "placed": ((k * 3) % 5) * 10_000 + c,
                        "total": None if (c + k) % 9 == 0 else Decimal(f"{(c * 3 + k) % 300}.50"),
                    }
                )
    return rows


def order_items(n_orders: int):
    rows = []
    for k in range(2):
        for o in range(1, n_orders + 1):
            if k < o % 3:
                rows.append({"order_id": o, "sku": f"SKU-{(o * 11 + k) % 97}", "quantity": 1 + (o + k) % 4})
    return rows


# ---- call inputs ---------------------------------------------------------------------------------

TEN = [3, 1, 4, 15, 9, 2, 6, 5, 35, 8]  # no NULL payment among these (see `payments`)
BIG = random.Random(4).sample(range(1, N_KEYS + 1), 2500)  # 2,500 distinct known ids, shuffled

INPUTS = {
    "ten": TEN,
    "big": BIG,
    # repeated ids, one of them (7) with a NULL payment amount
    "dups": [5, 5, 3, 5, 3, 12, 7, 12],
    # 1,200 entries, 600 distinct: without de-duplication before chunking, the second chunk would
    # fetch (and append) rows of keys the first chunk already had
    "dups_large": BIG[:600] + BIG[:600],
    "unknown": [UNKNOWN[0], 4, UNKNOWN[1], UNKNOWN[0]],
    "unknown_only": list(UNKNOWN),
    "empty": [],
}

# The inputs whose query counts are measured: (name, number of distinct ids).
COUNTED = {"ten": len(TEN), "big": len(BIG)}


def as_rows(ids):
    """The `input = "rows"` calling convention: one dict per id."""
    return [{"id": i, "label": f"#{i}"} for i in ids]
