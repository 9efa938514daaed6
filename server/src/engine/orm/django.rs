//! Django: `Model.objects` managers, related managers (`obj.order_set`, `project.epics` by its
//! `related_name`, many-to-many fields) and querysets held in variables.

use super::symbols::Symbol;
use super::{
    last_component, Access, ModelEvidence, NameRef, Orm, OrmModule, QueryApi, Receiver, Recognized,
    RefContext, Tables,
};

pub struct Django;

pub static TABLES: Tables = Tables {
    terminals: &[
        "get",
        "first",
        "last",
        "count",
        "exists",
        "earliest",
        "latest",
        "aggregate",
        "in_bulk",
        "iterator",
        "contains",
        "all",
        "aget",
        "afirst",
        "alast",
        "acount",
        "aexists",
        "aearliest",
        "alatest",
        "aaggregate",
        "ain_bulk",
        "acontains",
    ],
    // Everything else (`filter`, `exclude`, `all`, `values`, `order_by`, ...) builds a lazy
    // queryset that runs where it is iterated or consumed.
    runs: &[
        "get",
        "first",
        "last",
        "count",
        "exists",
        "earliest",
        "latest",
        "aggregate",
        "in_bulk",
        "iterator",
        "contains",
        "explain",
        "create",
        "get_or_create",
        "update_or_create",
        "bulk_create",
        "bulk_update",
        "update",
        "delete",
        "add",
        "remove",
        "set",
        "clear",
        "aget",
        "afirst",
        "alast",
        "acount",
        "aexists",
        "aearliest",
        "alatest",
        "aaggregate",
        "ain_bulk",
        "acontains",
        "acreate",
        "aget_or_create",
        "aupdate_or_create",
        "abulk_create",
        "abulk_update",
        "aupdate",
        "adelete",
        "aadd",
        "aremove",
        "aset",
        "aclear",
    ],
    builds: &[
        "all",
        "filter",
        "exclude",
        "order_by",
        "values",
        "values_list",
        "annotate",
        "alias",
        "select_related",
        "prefetch_related",
        "distinct",
        "only",
        "defer",
        "using",
        "none",
        "reverse",
        "extra",
        "union",
        "intersection",
        "difference",
        "select_for_update",
        "dates",
        "datetimes",
        "get_queryset",
        "complex_filter",
    ],
    one_row: &[
        "get",
        "first",
        "last",
        "earliest",
        "latest",
        "aget",
        "afirst",
        "alast",
        "aearliest",
        "alatest",
    ],
    no_rows: &[
        "count",
        "exists",
        "aggregate",
        "values",
        "values_list",
        "in_bulk",
        "delete",
        "update",
        "contains",
        "acount",
        "aexists",
        "aaggregate",
        "ain_bulk",
        "acontains",
    ],
    reusable: &[
        "get",
        "first",
        "last",
        "count",
        "exists",
        "earliest",
        "latest",
        "aggregate",
        "in_bulk",
        "contains",
        "all",
    ],
    chain_writes: &[
        "create",
        "update",
        "delete",
        "get_or_create",
        "update_or_create",
        "bulk_create",
        "bulk_update",
        "add",
        "remove",
        "set",
        "clear",
        "acreate",
        "aupdate",
        "adelete",
        "aget_or_create",
        "aupdate_or_create",
        "abulk_create",
        "abulk_update",
        "aadd",
        "aremove",
        "aset",
        "aclear",
    ],
    receiver_writes: &["save", "delete", "asave", "adelete"],
    // Django relations have no loading strategy: every unloaded relation loads on access.
    lazy_strategies: &[],
    lazy_by_default: true,
    memoised: &[
        "get_for_model",
        "get_for_models",
        "get_for_id",
        "get_current",
        "aget_for_model",
    ],
};

/// The managers every model has.
const MANAGERS: &[&str] = &["objects", "_default_manager", "_base_manager"];

/// Methods of a manager or queryset: a chain through a related manager must start with one.
const QUERYSET_METHODS: &[&str] = &[
    "all",
    "filter",
    "exclude",
    "get",
    "first",
    "last",
    "count",
    "exists",
    "earliest",
    "latest",
    "aggregate",
    "annotate",
    "in_bulk",
    "iterator",
    "values",
    "values_list",
    "order_by",
    "select_related",
    "prefetch_related",
    "distinct",
    "only",
    "defer",
    "create",
    "get_or_create",
    "update_or_create",
    "bulk_create",
    "update",
    "delete",
    "add",
    "remove",
    "set",
    "clear",
    "contains",
    "aget",
    "afirst",
    "alast",
    "acount",
    "aexists",
    "acreate",
    "aget_or_create",
];

impl OrmModule for Django {
    fn orm(&self) -> Orm {
        Orm::Django
    }

    fn tables(&self) -> &'static Tables {
        &TABLES
    }

    /// Django's managers are recognised by the model classes they hang off, not by imported
    /// names.
    fn symbol(&self, _module: &str, _name: Option<&str>) -> Option<Symbol> {
        None
    }

    fn recognize(&self, call: &Receiver<'_, '_>) -> Option<Recognized> {
        recognize(call)
    }
}

/// A call only a queryset makes: `d.get(key)`, `s.add(x)`, `items.count(x)` are also methods of
/// dicts, sets and lists, so on a receiver nothing types they say nothing; `rel.get(ref=r)`,
/// `rel.filter(...)`, `rel.count()` do.
fn queryset_only_call(call: &Receiver<'_, '_>, method: &str) -> bool {
    let arguments = call.chain.segments[call.first_call].arguments;
    let has_positional =
        arguments.is_some_and(|a| super::sqlalchemy::positional_arguments(a).next().is_some());
    match method {
        "add" | "remove" | "set" | "clear" | "update" | "pop" | "contains" => false,
        "get" | "count" | "exists" | "first" | "last" => !has_positional,
        _ => true,
    }
}

fn recognize(call: &Receiver<'_, '_>) -> Option<Recognized> {
    let manager = last_component(&call.path);
    let owner = call.path[..call.path.len() - manager.len()].trim_end_matches('.');
    let method = call.chain.segments[call.first_call].name;
    // `.none()` is an empty queryset that never reaches the database.
    if owner.is_empty()
        || call.scope.symbol(owner) == Some(Symbol::Foreign)
        || TABLES.memoised.contains(&method)
        || call.chain.calls_any(&["none"])
    {
        return None;
    }

    let (api, model) = if MANAGERS.contains(&manager)
        && call.scope.model_evidence(owner) >= ModelEvidence::Shape
    {
        (
            QueryApi::DjangoManager,
            Some(last_component(owner).to_string()),
        )
    } else if !QUERYSET_METHODS.contains(&method) {
        return None;
    } else if let Some(related) = call
        .scope
        .related_manager(owner, manager)
        .filter(|related| related.owner_typed || queryset_only_call(call, method))
    {
        (QueryApi::DjangoRelated, related.model)
    } else if manager.len() > "_set".len() && manager.ends_with("_set") {
        (QueryApi::DjangoRelated, None)
    } else {
        return None;
    };

    let mut refs: Vec<NameRef> = call
        .chain
        .refs_from(call.first_call, call.source, call.scope);
    if api == QueryApi::DjangoRelated {
        // The related manager is reached through an object: `order.item_set` varies with `order`.
        refs.push(NameRef {
            name: owner.to_string(),
            range: call.chain.root.byte_range(),
            context: RefContext::Key,
        });
        refs.push(NameRef {
            name: owner.split('.').next().unwrap_or(owner).to_string(),
            range: call.chain.root.byte_range(),
            context: RefContext::Key,
        });
    }
    let access = if call.chain.segments[call.first_call..]
        .iter()
        .any(|segment| segment.is_call() && TABLES.chain_writes.contains(&segment.name))
    {
        Access::Write
    } else {
        Access::Read
    };
    Some(Recognized {
        api,
        access,
        model,
        evaluation: call.chain.evaluation(&TABLES, call.scope),
        refs,
    })
}
