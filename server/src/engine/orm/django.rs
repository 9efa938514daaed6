//! Django: `Model.objects` managers and related managers (`obj.order_set`).

use super::{
    last_component, looks_like_class, Access, NameRef, QueryApi, Receiver, Recognized, RefContext,
};

/// QuerySet methods that run the query (the rest build it lazily).
pub const TERMINALS: &[&str] = &[
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
];

/// QuerySet and manager methods that write.
const WRITE_METHODS: &[&str] = &[
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
];

const MANAGERS: &[&str] = &["objects", "_default_manager", "_base_manager"];

pub(super) fn recognize(call: &Receiver<'_, '_>) -> Option<Recognized> {
    let manager = last_component(&call.path);
    let owner = call.path[..call.path.len() - manager.len()].trim_end_matches('.');

    let (api, model) = if MANAGERS.contains(&manager) && looks_like_class(last_component(owner)) {
        (
            QueryApi::DjangoManager,
            Some(last_component(owner).to_string()),
        )
    } else if manager.len() > "_set".len() && manager.ends_with("_set") && !owner.is_empty() {
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
        .any(|segment| segment.is_call() && WRITE_METHODS.contains(&segment.name))
    {
        Access::Write
    } else {
        Access::Read
    };
    Some(Recognized {
        api,
        access,
        model,
        refs,
    })
}
