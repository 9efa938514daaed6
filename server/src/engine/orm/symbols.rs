//! What imported names are: the library symbols the recognisers take as evidence.
//!
//! `from sqlalchemy.orm import Session` makes `Session` SQLAlchemy's session class;
//! `from requests import Session` makes it something else entirely. Each ORM module classifies
//! the names of its own libraries ([`super::OrmModule::symbol`]); names from well-known libraries
//! that are not ORMs are [`Symbol::Foreign`], which is evidence *against* a query.

/// A statement constructor of SQLAlchemy (and SQLModel, which re-exports them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    Select,
    Insert,
    Update,
    Delete,
    Text,
}

impl StatementKind {
    pub fn from_name(name: &str) -> Option<StatementKind> {
        Some(match name {
            "select" | "union" | "union_all" | "exists" => StatementKind::Select,
            "insert" => StatementKind::Insert,
            "update" => StatementKind::Update,
            "delete" => StatementKind::Delete,
            "text" => StatementKind::Text,
            _ => return None,
        })
    }

    pub fn writes(self) -> bool {
        matches!(
            self,
            StatementKind::Insert | StatementKind::Update | StatementKind::Delete
        )
    }
}

/// What an imported name (or a module-level name bound from one) is, as far as the recognisers
/// care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symbol {
    /// A session or connection class: SQLAlchemy `Session`, `AsyncSession`, `Connection`,
    /// SQLModel `Session`.
    SessionClass,
    /// Makes sessions when called: `sessionmaker`, `async_sessionmaker`.
    SessionFactory,
    /// `scoped_session(...)`: its result is a session proxy, and calling that gives a session.
    ScopedSession,
    /// `create_engine`, `create_async_engine`: `engine.connect()` / `engine.begin()` give
    /// connections.
    EngineFactory,
    /// `select`, `insert`, `update`, `delete`, `text`.
    Statement(StatementKind),
    /// The library module itself: `import sqlalchemy as sa` (`sa.select(...)`).
    SqlAlchemyModule,
    /// Flask-SQLAlchemy's `SQLAlchemy` class: its instance's `.session` is a session.
    FlaskSqlAlchemy,
    /// Alembic's `op`: `op.execute(...)` runs SQL in a migration.
    AlembicOp,
    /// A schema construct (`DropTable`, `DropConstraint`, `CreateIndex`, ...): DDL, not rows.
    Ddl,
    /// A name from a library that is not an ORM (`requests.Session`, `httpx.Client`, `redis`).
    Foreign,
}

/// Libraries whose names are never ORM sessions, managers or statements.
const FOREIGN_LIBRARIES: &[&str] = &[
    "requests",
    "httpx",
    "aiohttp",
    "urllib3",
    "redis",
    "aioredis",
    "boto3",
    "botocore",
    "pymongo",
    "motor",
    "elasticsearch",
    "kombu",
    "celery",
    "paramiko",
    "ldap3",
    "selenium",
    "playwright",
    "tornado",
    "grpc",
    "websockets",
    "socket",
    "select",
    "asyncio",
    "concurrent",
    "multiprocessing",
    "threading",
];

/// Whether `module` (absolute, dotted) is a non-ORM library or one of its submodules.
pub fn is_foreign_module(module: &str) -> bool {
    let top = module.split('.').next().unwrap_or(module);
    FOREIGN_LIBRARIES.contains(&top)
}

/// Whether a module path belongs to `library` (`sqlalchemy.orm` belongs to `sqlalchemy`).
pub fn in_library(module: &str, library: &str) -> bool {
    module == library
        || module
            .strip_prefix(library)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// Module names under which projects keep their model classes: `app.models`, `db.models.user`,
/// `orders.entities`. A CapWords name imported from one is taken to be a model.
pub fn is_models_module(module: &str) -> bool {
    module.split('.').any(|part| {
        matches!(
            part,
            "models" | "model" | "entities" | "entity" | "tables" | "orm"
        )
    })
}
