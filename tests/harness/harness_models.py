"""SQLAlchemy 2.x models for the fix-execution harness.

Flask-SQLAlchemy style: every model has `Model.query` (a `query_property` on the scoped session
`db_session`), and works with `session.query(M)`, `session.execute(select(M))`, `session.scalars`,
`session.get` and, through `sqlalchemy.ext.asyncio`, with an `AsyncSession`.

Fixture modules import from here (`from harness_models import Session, Payment, db_session`); the
harness puts this folder on `sys.path`, so the same import works in an original module, in its
reference rewrite and in inbatch's output copied to a temporary folder.
"""

from decimal import Decimal
from typing import Optional

from sqlalchemy import ForeignKey, Numeric, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, scoped_session, sessionmaker

db_session = scoped_session(sessionmaker())


class Base(DeclarativeBase):
    query = db_session.query_property()


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    sessions: Mapped[list["Session"]] = relationship(back_populates="user")
    payments: Mapped[list["Payment"]] = relationship(back_populates="user")
    profile: Mapped[Optional["Profile"]] = relationship(back_populates="user")


class Session(Base):
    """A login session (not a database session)."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    started: Mapped[int] = mapped_column()
    user: Mapped[User] = relationship(back_populates="sessions")


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # NULL for payments still pending (INB201 territory).
    amount: Mapped[Optional[Decimal]] = mapped_column(Numeric(10, 2))
    status: Mapped[str] = mapped_column(String(20))
    user: Mapped[User] = relationship(back_populates="payments")


class Profile(Base):
    """At most one per user (`user_id` is unique): the `.one()` / `.one_or_none()` shapes."""

    __tablename__ = "profiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    bio: Mapped[Optional[str]] = mapped_column(String(200))
    user: Mapped[User] = relationship(back_populates="profile")


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    orders: Mapped[list["Order"]] = relationship(back_populates="customer")
    # A query object per customer, not a loadable collection: no loader option can load it.
    order_query = relationship("Order", lazy="dynamic", viewonly=True, order_by="Order.id")


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    # Not monotonic in `id`, so `order_by(Order.placed)` differs from insertion order.
    placed: Mapped[int] = mapped_column()
    total: Mapped[Optional[Decimal]] = mapped_column(Numeric(10, 2))
    customer: Mapped[Customer] = relationship(back_populates="orders")
    items: Mapped[list["OrderItem"]] = relationship(back_populates="order")


class OrderItem(Base):
    __tablename__ = "order_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    sku: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[int] = mapped_column()
    order: Mapped[Order] = relationship(back_populates="items")
