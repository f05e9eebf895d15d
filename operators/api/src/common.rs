//! Schema helpers shared by every API group.
//!
//! OpenShift's types embed `runtime.RawExtension` and free-form maps in a few places. A CRD can
//! only keep such data when the schema says `x-kubernetes-preserve-unknown-fields: true`; these
//! helpers produce exactly that, so nothing a user writes is pruned by the API server.

use schemars::{Schema, SchemaGenerator, json_schema};

/// Schema for an embedded object of any shape (`runtime.RawExtension`), kept as written.
pub fn preserve_unknown_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// Schema for an optional embedded object of any shape.
pub fn preserve_unknown_object_nullable(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "nullable": true,
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// Schema for a list of embedded objects of any shape (`[]runtime.RawExtension`).
pub fn preserve_unknown_object_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true,
        },
    })
}

/// Schema for an optional list of embedded objects of any shape.
pub fn preserve_unknown_object_list_nullable(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "nullable": true,
        "items": {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true,
        },
    })
}
