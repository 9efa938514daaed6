//! Reading model declarations: SQLAlchemy declarative (`Column`, `mapped_column`, `Mapped[...]`,
//! `relationship`), Flask-SQLAlchemy `db.Model`/`db.Column`, SQLModel `Field`, and Django
//! `models.Model` fields.

use tree_sitter::Node;

use crate::engine::source::SourceFile;
use crate::engine::syntax::{callee_name, field, named_children};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelOrm {
    SqlAlchemy,
    Django,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The attribute name on rows (`user_id`; for a Django `ForeignKey` named `user`, `user_id`).
    pub name: String,
    pub nullable: bool,
    pub primary_key: bool,
    pub unique: bool,
    /// The target of a foreign key as written (`"users.id"`, `User`).
    pub foreign_key: Option<String>,
    pub numeric: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationshipKind {
    /// One related row: many-to-one or one-to-one (`order.customer`).
    Single,
    /// Many related rows: one-to-many or many-to-many (`user.orders`).
    Collection,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relationship {
    pub name: String,
    /// The related model's class name, when it can be read.
    pub target: Option<String>,
    pub kind: RelationshipKind,
    /// SQLAlchemy's `lazy=` strategy (`None` is the default, `"select"`).
    pub lazy: Option<String>,
    /// For a Django forward foreign key or one-to-one: its `<name>_id` column.
    pub foreign_key_column: Option<String>,
    /// The accessor this relationship creates on its target: Django `related_name`, SQLAlchemy
    /// `backref`.
    pub reverse_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub name: String,
    /// Dotted module of the declaring file (`app.models`); empty when unknown.
    pub module: String,
    pub orm: ModelOrm,
    pub columns: Vec<Column>,
    pub relationships: Vec<Relationship>,
    /// Multi-column unique constraints (`UniqueConstraint("a", "b")`, `unique_together`).
    pub unique_together: Vec<Vec<String>>,
}

impl Model {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|column| column.name == name)
    }

    pub fn relationship(&self, name: &str) -> Option<&Relationship> {
        self.relationships.iter().find(|r| r.name == name)
    }

    /// Whether at most one row can hold a value of this column: a single-column primary key, a
    /// `unique` column, or a one-column unique constraint.
    pub fn is_unique(&self, name: &str) -> bool {
        let primary_keys = self.columns.iter().filter(|c| c.primary_key).count();
        self.column(name)
            .is_some_and(|c| c.unique || (c.primary_key && primary_keys == 1))
            || (name == "pk" && self.orm == ModelOrm::Django)
            || self.unique_together.iter().any(|set| {
                // Django's `fields=["series"]` for the `series_id` column.
                set.len() == 1
                    && (set[0] == name
                        || (self.orm == ModelOrm::Django
                            && name.strip_suffix("_id") == Some(set[0].as_str())))
            })
    }
}

/// A class of the project as far as writes care: what Django's bulk operations (`bulk_create`,
/// `bulk_update`, `QuerySet.delete()`) would skip for its rows. Kept for every class with a base or
/// such a method, model or not: a model inherits `save()` overrides, tree and history behaviour
/// from abstract models and mixins that the model index does not list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassWrites {
    pub name: String,
    /// Dotted module of the declaring file; empty when unknown.
    pub module: String,
    /// The base classes, last component as written (`models.Model` → `Model`, `MP_Node`).
    pub bases: Vec<String>,
    /// The per-row write methods it defines: `save`, `delete` (and their `a`-prefixed async forms
    /// under the same names).
    pub overrides: Vec<String>,
    /// The field that records each change (`history = HistoricalRecords()`).
    pub history_field: Option<String>,
    /// Fields declared with `auto_now=True`: `save()` sets them, `bulk_update` does not.
    pub auto_now: Vec<String>,
    /// The overrides whose body commits or flushes a session (`self.add(); self.commit()`): a
    /// SQLAlchemy model's own `save()` that writes when called, not at the next flush.
    pub commits: Vec<String>,
}

/// A Django model signal receiver: `@receiver(post_save, sender=Tag)` or
/// `post_save.connect(handler, sender=Tag)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalReceiver {
    /// `pre_save`, `post_save`, `pre_delete` or `post_delete`.
    pub signal: String,
    /// The sender model's class name; `None` when the receiver names no sender, or one the code
    /// does not spell out (`sender=model`): it may then run for any model.
    pub sender: Option<String>,
    /// The receiving function as written, for messages.
    pub handler: String,
    /// Dotted module of the file that connects it; empty when unknown.
    pub module: String,
}

/// A per-row write to a model's rows: what Django's bulk forms replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowWrite {
    /// `save()`, replaced by `bulk_create`/`bulk_update`.
    Save,
    /// `delete()`, replaced by one `QuerySet.delete()`.
    Delete,
}

impl RowWrite {
    pub fn method(self) -> &'static str {
        match self {
            RowWrite::Save => "save",
            RowWrite::Delete => "delete",
        }
    }

    /// The signals Django sends around each row's write.
    pub fn signals(self) -> [&'static str; 2] {
        match self {
            RowWrite::Save => ["pre_save", "post_save"],
            RowWrite::Delete => ["pre_delete", "post_delete"],
        }
    }
}

/// What makes a model's rows need one write per row: a bulk form would skip it, or run it for all
/// rows at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PerRowBehaviour {
    /// The model, or a class it inherits from, defines the method (`save`, `delete`).
    Override { class: String, method: String },
    /// A tree model (django-mptt, django-treebeard) keeps its tree columns in `save()`/`delete()`.
    Tree { base: String },
    /// The model records each change: a `HistoricalRecords()` field, a change-logging base.
    History { what: String },
    /// A signal receiver for the model's rows; `sender` is `None` when it may run for any model.
    Receiver {
        signal: String,
        handler: String,
        module: String,
        sender: Option<String>,
    },
}

/// Bases that make a model a tree: django-mptt and django-treebeard.
pub const TREE_BASES: &[&str] = &["MPTTModel", "MP_Node", "NS_Node", "AL_Node"];

/// Whether a base class records changes: nautobot's `ChangeLoggedModel` and its kin.
pub fn is_change_logging_base(base: &str) -> bool {
    base.contains("ChangeLogged")
}

/// The model signals that `bulk_create`/`bulk_update` never send, and that a batched delete sends
/// for all rows before (or after) any is deleted.
pub const PER_ROW_SIGNALS: &[&str] = &["pre_save", "post_save", "pre_delete", "post_delete"];

const SQLALCHEMY_NUMERIC: &[&str] = &[
    "Integer",
    "BigInteger",
    "SmallInteger",
    "Numeric",
    "Float",
    "DECIMAL",
    "Decimal",
    "NUMERIC",
    "FLOAT",
    "INTEGER",
    "BIGINT",
    "REAL",
    "Double",
    "DOUBLE",
    "int",
    "float",
    "Money",
];
const DJANGO_NUMERIC: &[&str] = &[
    "IntegerField",
    "BigIntegerField",
    "SmallIntegerField",
    "PositiveIntegerField",
    "PositiveBigIntegerField",
    "PositiveSmallIntegerField",
    "DecimalField",
    "FloatField",
    "AutoField",
    "BigAutoField",
    "SmallAutoField",
];

/// Every model class a file declares.
pub fn extract_models(file: &SourceFile, module: &str) -> Vec<Model> {
    let mut models: Vec<Model> = module_classes(file.root())
        .into_iter()
        .filter_map(|class| read_class(file, class, module))
        .collect();
    attach_reverse_relationships(&mut models);
    models
}

/// Every class of a file that has a base class or defines `save()`/`delete()`, model or not.
pub fn extract_class_writes(file: &SourceFile, module: &str) -> Vec<ClassWrites> {
    module_classes(file.root())
        .into_iter()
        .filter_map(|class| class_writes(file, class, module))
        .collect()
}

/// Methods whose per-row logic the bulk operations bypass.
const PER_ROW_METHODS: &[&str] = &["save", "delete", "asave", "adelete"];

fn class_writes(file: &SourceFile, class: Node<'_>, module: &str) -> Option<ClassWrites> {
    let name = file.node_text(field(class, "name")?).to_string();
    let bases: Vec<String> = field(class, "superclasses")
        .map(|list| {
            named_children(list)
                .filter_map(|base| base_name(file, base))
                .collect()
        })
        .unwrap_or_default();
    let mut overrides = Vec::new();
    let mut history_field = None;
    let mut auto_now = Vec::new();
    let mut commits = Vec::new();
    for statement in named_children(field(class, "body")?) {
        let definition = match statement.kind() {
            "decorated_definition" => field(statement, "definition"),
            _ => Some(statement),
        };
        if let Some(function) = definition.filter(|d| d.kind() == "function_definition") {
            let method = field(function, "name").map(|n| file.node_text(n));
            if let Some(method) = method.filter(|m| PER_ROW_METHODS.contains(m)) {
                let method = match method {
                    "asave" => "save",
                    "adelete" => "delete",
                    method => method,
                };
                if !overrides.iter().any(|known| known == method) {
                    overrides.push(method.to_string());
                }
                let body = field(function, "body").map_or("", |b| file.node_text(b));
                if (body.contains("commit(") || body.contains("flush("))
                    && !commits.iter().any(|known| known == method)
                {
                    commits.push(method.to_string());
                }
            }
            continue;
        }
        let assignment = named_children(statement)
            .next()
            .filter(|a| statement.kind() == "expression_statement" && a.kind() == "assignment");
        let (Some(left), Some(right)) = (
            assignment.and_then(|a| field(a, "left")),
            assignment.and_then(|a| field(a, "right")),
        ) else {
            continue;
        };
        if right.kind() != "call" {
            continue;
        }
        if callee_name(right, file.text()) == Some("HistoricalRecords") {
            history_field = Some(file.node_text(left).to_string());
        } else if keyword(file, right, "auto_now") == Some("True") {
            auto_now.push(file.node_text(left).to_string());
        }
    }
    if bases.is_empty() && overrides.is_empty() && auto_now.is_empty() {
        return None;
    }
    Some(ClassWrites {
        name,
        module: module.to_string(),
        bases,
        overrides,
        history_field,
        auto_now,
        commits,
    })
}

/// `models.Model` → `Model`, `Generic[T]` → `Generic`; keyword arguments (`metaclass=...`) are
/// not bases.
fn base_name(file: &SourceFile, base: Node<'_>) -> Option<String> {
    let base = if base.kind() == "subscript" {
        field(base, "value")?
    } else {
        base
    };
    let text = match base.kind() {
        "identifier" => file.node_text(base),
        "attribute" => file.node_text(field(base, "attribute")?),
        _ => return None,
    };
    Some(text.to_string())
}

/// Every model signal receiver a file connects: `@receiver(post_save, sender=Tag)` (one signal or
/// a list of them) and `post_save.connect(handler, sender=Tag)`, wherever they stand (module level,
/// an `AppConfig.ready()`, a function).
pub fn extract_receivers(file: &SourceFile, module: &str) -> Vec<SignalReceiver> {
    let text = file.text();
    if !PER_ROW_SIGNALS.iter().any(|signal| text.contains(signal)) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut cursor = file.root().walk();
    // A pre-order walk with the cursor: no recursion, however deep the file nests.
    'walk: loop {
        let node = cursor.node();
        match node.kind() {
            "decorator" => receiver_decorator(file, node, module, &mut out),
            "call" => connect_call(file, node, module, &mut out),
            _ => {}
        }
        if cursor.goto_first_child() {
            continue;
        }
        while !cursor.goto_next_sibling() {
            if !cursor.goto_parent() {
                break 'walk;
            }
        }
    }
    out
}

/// `@receiver(post_save, sender=Tag)` / `@receiver([pre_save, post_save], sender=Tag)`.
fn receiver_decorator(
    file: &SourceFile,
    decorator: Node<'_>,
    module: &str,
    out: &mut Vec<SignalReceiver>,
) {
    let Some(call) = named_children(decorator).find(|c| c.kind() == "call") else {
        return;
    };
    if callee_name(call, file.text()) != Some("receiver") {
        return;
    }
    let Some(signals) = positional(call).first().copied() else {
        return;
    };
    let handler = decorator
        .parent()
        .and_then(|decorated| field(decorated, "definition"))
        .and_then(|definition| field(definition, "name"))
        .map(|name| file.node_text(name).to_string())
        .unwrap_or_default();
    let sender = sender_of(file, call);
    let listed: Vec<Node<'_>> = match signals.kind() {
        "list" | "tuple" => named_children(signals).collect(),
        _ => vec![signals],
    };
    for signal in listed {
        if let Some(signal) = signal_name(file, signal) {
            out.push(SignalReceiver {
                signal: signal.to_string(),
                sender: sender.clone(),
                handler: handler.clone(),
                module: module.to_string(),
            });
        }
    }
}

/// `post_save.connect(handler, sender=Tag)`, `signals.pre_delete.connect(...)`.
fn connect_call(file: &SourceFile, call: Node<'_>, module: &str, out: &mut Vec<SignalReceiver>) {
    let Some(function) = field(call, "function").filter(|f| f.kind() == "attribute") else {
        return;
    };
    if field(function, "attribute").map(|a| file.node_text(a)) != Some("connect") {
        return;
    }
    let Some(signal) = field(function, "object").and_then(|object| signal_name(file, object))
    else {
        return;
    };
    let handler = positional(call)
        .first()
        .map(|handler| file.node_text(*handler).to_string())
        .unwrap_or_default();
    // `connect(receiver, sender=None, weak=True, dispatch_uid=None)`: the sender may be positional.
    let sender = sender_of(file, call).or_else(|| {
        positional(call)
            .get(1)
            .and_then(|sender| sender_name(file, *sender))
    });
    out.push(SignalReceiver {
        signal: signal.to_string(),
        sender,
        handler,
        module: module.to_string(),
    });
}

/// The per-row signal a name refers to: `post_save`, `signals.post_save`,
/// `models.signals.pre_delete`.
fn signal_name<'s>(file: &'s SourceFile, node: Node<'_>) -> Option<&'s str> {
    let name = match node.kind() {
        "identifier" => file.node_text(node),
        "attribute" => file.node_text(field(node, "attribute")?),
        _ => return None,
    };
    PER_ROW_SIGNALS.contains(&name).then_some(name)
}

/// The model a receiver's `sender=` names: `Tag`, `models.Tag`, `"app.Tag"`,
/// `apps.get_model("app", "Tag")`; the user model for `settings.AUTH_USER_MODEL` and
/// `get_user_model()`. `None` when there is no `sender=` or the code does not spell the model out.
fn sender_of(file: &SourceFile, call: Node<'_>) -> Option<String> {
    let arguments = field(call, "arguments")?;
    let value = named_children(arguments)
        .filter(|a| a.kind() == "keyword_argument")
        .find(|a| field(*a, "name").is_some_and(|n| file.node_text(n) == "sender"))
        .and_then(|a| field(a, "value"))?;
    sender_name(file, value)
}

/// The model class a sender expression names (see [`sender_of`]).
fn sender_name(file: &SourceFile, value: Node<'_>) -> Option<String> {
    let text = file.node_text(value);
    if text.ends_with("AUTH_USER_MODEL") || text.starts_with("get_user_model(") {
        return Some("User".to_string());
    }
    let named = match value.kind() {
        "identifier" => text.to_string(),
        "attribute" => file.node_text(field(value, "attribute")?).to_string(),
        "string" => text.trim_matches(['"', '\'']).to_string(),
        // `apps.get_model("app", "Tag")`, `self.get_model("Tag")`: the last string names it.
        "call" => positional(value)
            .into_iter()
            .rev()
            .find(|a| a.kind() == "string")
            .map(|a| file.node_text(a).trim_matches(['"', '\'']).to_string())?,
        _ => return None,
    };
    let class = named.rsplit('.').next().unwrap_or(&named);
    crate::engine::orm::looks_like_class(class).then(|| class.to_string())
}

/// The classes a module declares: at top level, decorated or not, and inside `if`/`try` blocks
/// (`try: ... except ImportError: class Fallback(...)`).
fn module_classes(node: Node<'_>) -> Vec<Node<'_>> {
    let mut classes = Vec::new();
    for child in named_children(node) {
        match child.kind() {
            "class_definition" => classes.push(child),
            "decorated_definition" => {
                if let Some(definition) =
                    field(child, "definition").filter(|d| d.kind() == "class_definition")
                {
                    classes.push(definition);
                }
            }
            "if_statement" | "try_statement" | "block" | "elif_clause" | "else_clause"
            | "except_clause" | "finally_clause" => classes.extend(module_classes(child)),
            _ => {}
        }
    }
    classes
}

fn read_class(file: &SourceFile, class: Node<'_>, module: &str) -> Option<Model> {
    let name = file.node_text(field(class, "name")?).to_string();
    let bases = field(class, "superclasses")
        .map(|b| file.node_text(b))
        .unwrap_or("");
    let body = field(class, "body")?;
    let mut model = Model {
        name,
        module: module.to_string(),
        orm: if bases.contains("models.Model") || bases.contains("(Model") && !bases.contains("db.")
        {
            ModelOrm::Django
        } else {
            ModelOrm::SqlAlchemy
        },
        columns: Vec::new(),
        relationships: Vec::new(),
        unique_together: Vec::new(),
    };
    let mut is_model = bases.contains("models.Model")
        || bases.contains("db.Model")
        || bases.contains("table=True");
    for statement in named_children(body) {
        let Some(assignment) = named_children(statement)
            .next()
            .filter(|_| statement.kind() == "expression_statement")
        else {
            if statement.kind() == "class_definition"
                && file.node_text(field(statement, "name").unwrap_or(statement)) == "Meta"
            {
                read_django_meta(file, statement, &mut model);
            }
            continue;
        };
        if assignment.kind() != "assignment" {
            continue;
        }
        let Some(left) = field(assignment, "left").filter(|l| l.kind() == "identifier") else {
            continue;
        };
        let attribute = file.node_text(left).to_string();
        let annotation = field(assignment, "type").map(|t| file.node_text(t));
        let right = field(assignment, "right");
        if attribute == "__tablename__" {
            is_model = true;
            continue;
        }
        if attribute == "__table_args__" {
            if let Some(right) = right {
                read_unique_constraints(file, right, &mut model);
            }
            continue;
        }
        let callee = right
            .filter(|r| r.kind() == "call")
            .and_then(|r| callee_name(r, file.text()));
        match (callee, annotation) {
            (Some("Column" | "mapped_column"), _) => {
                is_model = true;
                model
                    .columns
                    .push(sqlalchemy_column(file, attribute, right?, annotation));
            }
            (Some("relationship"), _) => {
                is_model = true;
                model
                    .relationships
                    .push(sqlalchemy_relationship(file, attribute, right?, annotation));
            }
            (Some("Field"), Some(annotation)) => {
                model
                    .columns
                    .push(sqlmodel_field(file, attribute, right?, annotation));
            }
            (Some("Relationship"), Some(annotation)) => {
                let target = mapped_target(annotation);
                let kind = if is_collection_annotation(annotation) {
                    RelationshipKind::Collection
                } else {
                    RelationshipKind::Single
                };
                model.relationships.push(Relationship {
                    name: attribute,
                    target,
                    kind,
                    lazy: None,
                    foreign_key_column: None,
                    reverse_name: None,
                });
            }
            (Some(field_type), _)
                if field_type.ends_with("Field") || field_type == "ForeignKey" =>
            {
                if let Some(right) = right {
                    if file.node_text(right).starts_with("models.") || bases.contains("Model") {
                        model.orm = ModelOrm::Django;
                        is_model = true;
                        django_field(file, attribute, right, field_type, &mut model);
                    }
                }
            }
            (None, Some(annotation)) if annotation.starts_with("Mapped[") && right.is_none() => {
                is_model = true;
                let nullable = is_optional(annotation);
                model.columns.push(Column {
                    name: attribute,
                    nullable,
                    primary_key: false,
                    unique: false,
                    foreign_key: None,
                    numeric: SQLALCHEMY_NUMERIC.iter().any(|t| annotation.contains(t)),
                });
            }
            _ => {}
        }
    }
    if !is_model {
        return None;
    }
    if model.orm == ModelOrm::Django && !model.columns.iter().any(|c| c.primary_key) {
        model.columns.insert(
            0,
            Column {
                name: "id".to_string(),
                nullable: false,
                primary_key: true,
                unique: true,
                foreign_key: None,
                numeric: true,
            },
        );
    }
    Some(model)
}

fn keyword<'a>(file: &'a SourceFile, call: Node<'_>, name: &str) -> Option<&'a str> {
    keyword_argument(file, call, name).map(|v| file.node_text(v))
}

fn keyword_argument<'t>(file: &SourceFile, call: Node<'t>, name: &str) -> Option<Node<'t>> {
    let arguments = field(call, "arguments")?;
    named_children(arguments)
        .filter(|a| a.kind() == "keyword_argument")
        .find(|a| field(*a, "name").is_some_and(|n| file.node_text(n) == name))
        .and_then(|a| field(a, "value"))
}

fn positional<'a>(call: Node<'a>) -> Vec<Node<'a>> {
    field(call, "arguments")
        .map(|arguments| {
            named_children(arguments)
                .filter(|a| !matches!(a.kind(), "keyword_argument" | "comment"))
                .collect()
        })
        .unwrap_or_default()
}

fn is_optional(annotation: &str) -> bool {
    annotation.contains("Optional[")
        || annotation.contains("| None")
        || annotation.contains("None |")
        || annotation.contains("Union[") && annotation.contains("None")
}

fn sqlalchemy_column(
    file: &SourceFile,
    name: String,
    call: Node<'_>,
    annotation: Option<&str>,
) -> Column {
    let primary_key = keyword(file, call, "primary_key") == Some("True");
    let mut foreign_key = None;
    let mut numeric = annotation.is_some_and(|a| SQLALCHEMY_NUMERIC.iter().any(|t| a.contains(t)));
    for argument in positional(call) {
        let text = file.node_text(argument);
        if text.starts_with("ForeignKey(") || text.contains(".ForeignKey(") {
            foreign_key = positional(argument)
                .first()
                .map(|a| file.node_text(*a).trim_matches(['"', '\'']).to_string());
        } else if SQLALCHEMY_NUMERIC.iter().any(|t| {
            text.trim_start_matches("db.")
                .trim_start_matches("sa.")
                .starts_with(t)
        }) {
            numeric = true;
        }
    }
    // SQLAlchemy: a `Column` is nullable unless it is a primary key or says otherwise; a
    // `mapped_column` follows its `Mapped[...]` annotation.
    let default_nullable = match annotation {
        Some(annotation) if annotation.starts_with("Mapped[") => is_optional(annotation),
        _ => true,
    };
    let nullable = match keyword(file, call, "nullable") {
        Some("True") => true,
        Some("False") => false,
        _ => default_nullable && !primary_key,
    };
    Column {
        name,
        nullable,
        primary_key,
        unique: keyword(file, call, "unique") == Some("True"),
        foreign_key,
        numeric,
    }
}

fn sqlmodel_field(file: &SourceFile, name: String, call: Node<'_>, annotation: &str) -> Column {
    let primary_key = keyword(file, call, "primary_key") == Some("True");
    let nullable = match keyword(file, call, "nullable") {
        Some("True") => true,
        Some("False") => false,
        _ => is_optional(annotation) && !primary_key,
    };
    Column {
        name,
        nullable,
        primary_key,
        unique: keyword(file, call, "unique") == Some("True"),
        foreign_key: keyword(file, call, "foreign_key")
            .map(|f| f.trim_matches(['"', '\'']).to_string()),
        numeric: SQLALCHEMY_NUMERIC.iter().any(|t| annotation.contains(t)),
    }
}

/// `Mapped[list["Session"]]` → `Session`; `Mapped[Optional[User]]` → `User`.
fn mapped_target(annotation: &str) -> Option<String> {
    let inner: String = annotation
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_' || *c == '[' || *c == ',')
        .collect();
    inner
        .split(['[', ','])
        .map(str::trim)
        .rfind(|part| {
            !part.is_empty()
                && !matches!(
                    *part,
                    "Mapped"
                        | "list"
                        | "List"
                        | "set"
                        | "Set"
                        | "Optional"
                        | "None"
                        | "WriteOnlyMapped"
                        | "DynamicMapped"
                )
        })
        .map(str::to_string)
}

fn is_collection_annotation(annotation: &str) -> bool {
    [
        "list[",
        "List[",
        "set[",
        "Set[",
        "WriteOnlyMapped[",
        "DynamicMapped[",
    ]
    .iter()
    .any(|c| annotation.contains(c))
}

fn sqlalchemy_relationship(
    file: &SourceFile,
    name: String,
    call: Node<'_>,
    annotation: Option<&str>,
) -> Relationship {
    let target = positional(call)
        .first()
        .map(|a| file.node_text(*a).trim_matches(['"', '\'']).to_string())
        .or_else(|| annotation.and_then(mapped_target));
    let uselist = keyword(file, call, "uselist");
    let lazy = keyword(file, call, "lazy").map(|l| l.trim_matches(['"', '\'']).to_string());
    // A dynamic or write-only relationship stands for many rows, whatever its name says.
    let many_rows = matches!(lazy.as_deref(), Some("dynamic" | "write_only"));
    let kind = match (uselist, annotation) {
        (Some("False"), _) => RelationshipKind::Single,
        _ if many_rows => RelationshipKind::Collection,
        (Some("True"), _) => RelationshipKind::Collection,
        (_, Some(annotation)) if is_collection_annotation(annotation) => {
            RelationshipKind::Collection
        }
        (_, Some(_)) => RelationshipKind::Single,
        // Without an annotation, a relationship whose name is plural is most likely a collection.
        (None, None) => {
            if name.ends_with('s') {
                RelationshipKind::Collection
            } else {
                RelationshipKind::Single
            }
        }
        _ => RelationshipKind::Single,
    };
    Relationship {
        name,
        target,
        kind,
        lazy,
        foreign_key_column: None,
        reverse_name: backref_name(file, call),
    }
}

/// `backref="user"` or `backref=backref("user", lazy="joined")`.
fn backref_name(file: &SourceFile, call: Node<'_>) -> Option<String> {
    let value = keyword(file, call, "backref")?;
    let name = value.strip_prefix("backref(").unwrap_or(value);
    let name = name
        .split([',', ')'])
        .next()
        .unwrap_or("")
        .trim()
        .trim_matches(['"', '\'']);
    (!name.is_empty()).then(|| name.to_string())
}

fn django_field(
    file: &SourceFile,
    name: String,
    call: Node<'_>,
    field_type: &str,
    model: &mut Model,
) {
    let nullable = keyword(file, call, "null") == Some("True");
    let primary_key = keyword(file, call, "primary_key") == Some("True");
    let unique = keyword(file, call, "unique") == Some("True") || primary_key;
    let target = positional(call).first().map(|t| {
        let target = file
            .node_text(*t)
            .trim_matches(['"', '\''])
            .rsplit('.')
            .next()
            .unwrap_or("");
        // `ManyToManyField("self")`: a relation of the model to itself.
        if target == "self" {
            model.name.clone()
        } else {
            target.to_string()
        }
    });
    match field_type {
        "ForeignKey" | "OneToOneField" => {
            let column = format!("{name}_id");
            model.columns.push(Column {
                name: column.clone(),
                nullable,
                primary_key,
                unique: unique || field_type == "OneToOneField",
                foreign_key: target.clone(),
                numeric: true,
            });
            model.relationships.push(Relationship {
                name,
                target,
                kind: RelationshipKind::Single,
                lazy: None,
                foreign_key_column: Some(column),
                reverse_name: keyword(file, call, "related_name")
                    .map(|r| r.trim_matches(['"', '\'']).to_string()),
            });
        }
        "ManyToManyField" => model.relationships.push(Relationship {
            name,
            target,
            kind: RelationshipKind::Collection,
            lazy: None,
            foreign_key_column: None,
            reverse_name: keyword(file, call, "related_name")
                .map(|r| r.trim_matches(['"', '\'']).to_string()),
        }),
        _ => model.columns.push(Column {
            name,
            nullable,
            primary_key,
            unique,
            foreign_key: None,
            numeric: DJANGO_NUMERIC.contains(&field_type),
        }),
    }
}

fn read_unique_constraints(file: &SourceFile, node: Node<'_>, model: &mut Model) {
    if node.kind() == "call" && callee_name(node, file.text()) == Some("UniqueConstraint") {
        // A partial constraint (`condition=Q(is_primary=True)`) leaves the other rows free.
        if keyword_argument(file, node, "condition").is_some() {
            return;
        }
        // SQLAlchemy names the columns positionally, Django in `fields=[...]`.
        let mut columns: Vec<String> = positional(node)
            .iter()
            .map(|c| file.node_text(*c).trim_matches(['"', '\'']).to_string())
            .collect();
        if let Some(fields) = keyword_argument(file, node, "fields") {
            columns.extend(collect_strings(file, fields));
        }
        if !columns.is_empty() {
            model.unique_together.push(columns);
        }
        return;
    }
    for child in named_children(node) {
        read_unique_constraints(file, child, model);
    }
}

fn read_django_meta(file: &SourceFile, meta: Node<'_>, model: &mut Model) {
    let Some(body) = field(meta, "body") else {
        return;
    };
    for statement in named_children(body) {
        let text = file.node_text(statement);
        if text.starts_with("unique_together") {
            if let Some(right) = named_children(statement)
                .next()
                .and_then(|a| field(a, "right"))
            {
                let strings: Vec<String> = collect_strings(file, right);
                if !strings.is_empty() {
                    model.unique_together.push(strings);
                }
            }
        } else if text.starts_with("constraints") {
            if let Some(right) = named_children(statement)
                .next()
                .and_then(|a| field(a, "right"))
            {
                read_unique_constraints(file, right, model);
            }
        }
    }
}

fn collect_strings(file: &SourceFile, node: Node<'_>) -> Vec<String> {
    if node.kind() == "string" {
        return vec![file.node_text(node).trim_matches(['"', '\'']).to_string()];
    }
    named_children(node)
        .flat_map(|child| collect_strings(file, child))
        .collect()
}

/// The accessor a relationship creates on its target model: Django's `related_name` or
/// `<model>_set` (or `<model>` for a one-to-one), SQLAlchemy's `backref`. `None` when it creates
/// none (a SQLAlchemy relationship without `backref`; `back_populates` declares both sides).
pub fn reverse_relationship(owner: &Model, relationship: &Relationship) -> Option<Relationship> {
    let one_to_one = relationship
        .foreign_key_column
        .as_deref()
        .and_then(|column| owner.column(column))
        .is_some_and(|column| column.unique);
    let name = match (&relationship.reverse_name, owner.orm) {
        (Some(name), _) => name.clone(),
        (None, ModelOrm::Django) if one_to_one => owner.name.to_ascii_lowercase(),
        (None, ModelOrm::Django) => format!("{}_set", owner.name.to_ascii_lowercase()),
        (None, ModelOrm::SqlAlchemy) => return None,
    };
    // A SQLAlchemy backref of a collection points back at one row, and vice versa; Django's
    // reverse side of a foreign key or many-to-many is a collection.
    let kind = match (owner.orm, relationship.kind) {
        (ModelOrm::Django, _) if one_to_one => RelationshipKind::Single,
        (ModelOrm::Django, _) => RelationshipKind::Collection,
        (ModelOrm::SqlAlchemy, RelationshipKind::Collection) => RelationshipKind::Single,
        (ModelOrm::SqlAlchemy, RelationshipKind::Single) => RelationshipKind::Collection,
    };
    Some(Relationship {
        name,
        target: Some(owner.name.clone()),
        kind,
        lazy: None,
        foreign_key_column: None,
        reverse_name: Some(relationship.name.clone()),
    })
}

/// Adds the reverse accessors of relationships whose target is declared in the same file.
fn attach_reverse_relationships(models: &mut [Model]) {
    let mut reverse: Vec<(String, Relationship)> = Vec::new();
    for model in models.iter() {
        for relationship in &model.relationships {
            if let (Some(target), Some(accessor)) = (
                &relationship.target,
                reverse_relationship(model, relationship),
            ) {
                reverse.push((target.clone(), accessor));
            }
        }
    }
    for (target, relationship) in reverse {
        if let Some(model) = models.iter_mut().find(|m| m.name == target) {
            if model.relationship(&relationship.name).is_none() {
                model.relationships.push(relationship);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn models(text: &str) -> Vec<Model> {
        extract_models(&SourceFile::parse(text), "app.models")
    }

    #[test]
    fn sqlalchemy_declarative_columns_and_nullability() {
        let m = models(
            r#"
class Payment(Base):
    __tablename__ = "payments"
    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("users.id"), nullable=False)
    amount = Column(Numeric(10, 2))
    email = Column(String, unique=True)
    __table_args__ = (UniqueConstraint("user_id", "email"), UniqueConstraint("code"))
"#,
        );
        let payment = &m[0];
        assert_eq!(payment.name, "Payment");
        assert!(!payment.column("id").unwrap().nullable);
        assert!(payment.is_unique("id"));
        let user_id = payment.column("user_id").unwrap();
        assert!(!user_id.nullable && !user_id.unique);
        assert_eq!(user_id.foreign_key.as_deref(), Some("users.id"));
        let amount = payment.column("amount").unwrap();
        assert!(
            amount.nullable,
            "a Column is nullable unless told otherwise"
        );
        assert!(amount.numeric);
        assert!(payment.is_unique("email"));
        assert!(payment.is_unique("code"));
        assert!(!payment.is_unique("user_id"));
    }

    #[test]
    fn mapped_annotations_decide_nullability() {
        let m = models(
            r#"
class Payment(Base):
    __tablename__ = "payments"
    id: Mapped[int] = mapped_column(primary_key=True)
    total: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    amount: Mapped[Optional[Decimal]] = mapped_column(Numeric(10, 2))
    fee: Mapped[Decimal | None]
    forced: Mapped[int] = mapped_column(nullable=True)
    user: Mapped["User"] = relationship(back_populates="payments", lazy="selectin")
    items: Mapped[list["Item"]] = relationship()
"#,
        );
        let p = &m[0];
        assert!(
            !p.column("total").unwrap().nullable,
            "Mapped[Decimal] is NOT NULL"
        );
        assert!(p.column("amount").unwrap().nullable);
        assert!(p.column("fee").unwrap().nullable);
        assert!(p.column("forced").unwrap().nullable);
        let user = p.relationship("user").unwrap();
        assert_eq!(user.target.as_deref(), Some("User"));
        assert_eq!(user.kind, RelationshipKind::Single);
        assert_eq!(user.lazy.as_deref(), Some("selectin"));
        let items = p.relationship("items").unwrap();
        assert_eq!(items.kind, RelationshipKind::Collection);
        assert_eq!(items.target.as_deref(), Some("Item"));
    }

    #[test]
    fn flask_sqlalchemy_and_sqlmodel() {
        let m = models(
            r#"
class User(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(80), nullable=False)
    orders = db.relationship("Order", backref="user", lazy="dynamic")

class Order(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id"))

class Hero(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    team_id: Optional[int] = Field(default=None, foreign_key="team.id")
    age: int = Field(index=True)
"#,
        );
        let user = m.iter().find(|m| m.name == "User").unwrap();
        assert!(!user.column("name").unwrap().nullable);
        assert_eq!(
            user.relationship("orders").unwrap().lazy.as_deref(),
            Some("dynamic")
        );
        let order = m.iter().find(|m| m.name == "Order").unwrap();
        assert!(order.column("user_id").unwrap().nullable);
        assert_eq!(
            order.relationship("user").unwrap().kind,
            RelationshipKind::Single,
            "backref"
        );
        let hero = m.iter().find(|m| m.name == "Hero").unwrap();
        assert!(!hero.column("id").unwrap().nullable);
        assert!(hero.column("team_id").unwrap().nullable);
        assert_eq!(
            hero.column("team_id").unwrap().foreign_key.as_deref(),
            Some("team.id")
        );
        assert!(!hero.column("age").unwrap().nullable);
    }

    #[test]
    fn django_fields_relations_and_implicit_id() {
        let m = models(
            r#"
class Customer(models.Model):
    email = models.EmailField(unique=True)

class Order(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="orders")
    total = models.DecimalField(max_digits=10, decimal_places=2, null=True)
    tags = models.ManyToManyField("Tag")

class Profile(models.Model):
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE)

class Tag(models.Model):
    name = models.CharField(max_length=20)

    class Meta:
        unique_together = [("name",)]
"#,
        );
        let order = m.iter().find(|m| m.name == "Order").unwrap();
        assert!(order.is_unique("id"), "implicit primary key");
        assert!(order.is_unique("pk"));
        let customer_id = order.column("customer_id").unwrap();
        assert!(!customer_id.nullable && !customer_id.unique);
        assert!(order.column("total").unwrap().nullable && order.column("total").unwrap().numeric);
        assert_eq!(
            order
                .relationship("customer")
                .unwrap()
                .foreign_key_column
                .as_deref(),
            Some("customer_id")
        );
        assert_eq!(
            order.relationship("tags").unwrap().kind,
            RelationshipKind::Collection
        );
        let customer = m.iter().find(|m| m.name == "Customer").unwrap();
        assert!(customer.is_unique("email"));
        assert_eq!(
            customer.relationship("orders").unwrap().kind,
            RelationshipKind::Collection
        );
        assert_eq!(
            customer.relationship("profile").unwrap().kind,
            RelationshipKind::Single
        );
        let tag = m.iter().find(|m| m.name == "Tag").unwrap();
        assert_eq!(
            tag.relationship("order_set").unwrap().kind,
            RelationshipKind::Collection
        );
        assert!(tag.is_unique("name"));
    }

    #[test]
    fn class_writes_keep_bases_overrides_history_and_auto_now() {
        let file = SourceFile::parse(
            r#"
class Page(AbstractPage, index.Indexed, metaclass=PageBase):
    title = models.CharField(max_length=100)
    touched = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)

    async def adelete(self):
        pass


class DomainObject:
    def save(self):
        self.add()
        self.commit()

    def delete(self):
        Session.delete(self)


class Plain:
    def run(self):
        pass
"#,
        );
        let classes = extract_class_writes(&file, "app.models");
        let page = &classes[0];
        assert_eq!(page.name, "Page");
        assert_eq!(page.module, "app.models");
        assert_eq!(
            page.bases,
            ["AbstractPage", "Indexed"],
            "`metaclass=` is no base"
        );
        assert_eq!(
            page.overrides,
            ["save", "delete"],
            "`adelete` counts as `delete`"
        );
        assert_eq!(page.history_field.as_deref(), Some("history"));
        assert_eq!(page.auto_now, ["touched"]);
        assert!(
            page.commits.is_empty(),
            "`super().save()` commits nothing itself"
        );
        let domain = &classes[1];
        assert_eq!(domain.overrides, ["save", "delete"]);
        assert_eq!(domain.commits, ["save"], "only `save` commits");
        assert_eq!(
            classes.len(),
            2,
            "a class without base or write method is not kept"
        );
    }

    #[test]
    fn receivers_by_decorator_and_connect() {
        let file = SourceFile::parse(
            r#"
from django.db.models import signals
from django.db.models.signals import post_save, pre_delete
from django.dispatch import receiver


@receiver(post_save, sender=Tag)
def on_tag(sender, instance, **kwargs):
    pass


@receiver([pre_save, signals.post_delete], sender="app.Label")
def on_label(sender, instance, **kwargs):
    pass


@receiver(post_save)
def on_anything(sender, **kwargs):
    pass


@receiver(request_finished)
def not_a_model_signal(sender, **kwargs):
    pass


class Config(AppConfig):
    def ready(self):
        pre_delete.connect(on_gone, sender=self.get_model("Device"))
        signals.post_save.connect(on_user, sender=settings.AUTH_USER_MODEL)
        post_save.connect(on_model, sender=model)
        pre_save.connect(on_positional, Tag, True)
        post_save.disconnect(on_tag, sender=Tag)
"#,
        );
        let found: Vec<(String, Option<String>, String)> = extract_receivers(&file, "app.signals")
            .into_iter()
            .map(|r| (r.signal, r.sender, r.handler))
            .collect();
        let expected = [
            ("post_save", Some("Tag"), "on_tag"),
            ("pre_save", Some("Label"), "on_label"),
            ("post_delete", Some("Label"), "on_label"),
            ("post_save", None, "on_anything"),
            ("pre_delete", Some("Device"), "on_gone"),
            ("post_save", Some("User"), "on_user"),
            ("post_save", None, "on_model"),
            ("pre_save", Some("Tag"), "on_positional"),
        ];
        let expected: Vec<(String, Option<String>, String)> = expected
            .iter()
            .map(|(signal, sender, handler)| {
                (
                    signal.to_string(),
                    sender.map(str::to_string),
                    handler.to_string(),
                )
            })
            .collect();
        assert_eq!(found, expected);
        assert!(
            extract_receivers(&SourceFile::parse("def f():\n    pass\n"), "").is_empty(),
            "a file that names no model signal is not walked"
        );
    }

    #[test]
    fn many_to_many_to_self_points_at_the_model() {
        let m = models(
            r#"
class Group(models.Model):
    parents = models.ManyToManyField("self", symmetrical=False, related_name="children")
"#,
        );
        let group = &m[0];
        assert_eq!(
            group.relationship("parents").unwrap().target.as_deref(),
            Some("Group")
        );
        let children = group
            .relationship("children")
            .expect("the reverse accessor");
        assert_eq!(children.target.as_deref(), Some("Group"));
    }

    #[test]
    fn plain_classes_are_not_models() {
        assert!(models("class Service:\n    timeout = 3\n    def run(self): pass\n").is_empty());
    }
}
