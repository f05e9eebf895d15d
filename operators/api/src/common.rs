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

/// Largest length Outrigger accepts for a Kubernetes object name or `stream:tag` reference; it
/// bounds the cost of CEL rules that compare names.
pub const MAX_REFERENCE_NAME: u64 = 512;

/// Schema transform: drop `null` from a field's types and `nullable`, so that an explicit `null`
/// takes the schema default (used for fields whose default OpenShift applies to `null` too).
pub fn not_nullable(schema: &mut Schema) {
    if let Some(types) = schema.get_mut("type").and_then(|t| t.as_array_mut()) {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let single = types.remove(0);
            schema.insert("type".into(), single);
        }
    }
    schema.remove("nullable");
}

/// Schema transform for an embedded `ObjectReference`/`LocalObjectReference` that CEL rules
/// inspect: bound the length of its strings so the API server's cost estimate of those rules
/// stays within budget (a CRD whose rules may cost too much is refused).
pub fn bounded_reference(schema: &mut Schema) {
    let limits = [
        ("kind", 63u64),
        ("name", MAX_REFERENCE_NAME),
        ("namespace", 63),
        ("apiVersion", 316),
        ("uid", 64),
        ("resourceVersion", 128),
        ("fieldPath", 1024),
    ];
    fn props_of(schema: &mut Schema) -> Option<&mut serde_json::Map<String, serde_json::Value>> {
        schema.get_mut("properties").and_then(|p| p.as_object_mut())
    }
    // The reference may be inlined, or wrapped in `anyOf`/`allOf` for optionality.
    let mut targets: Vec<&mut serde_json::Map<String, serde_json::Value>> = Vec::new();
    if let Some(p) = props_of(schema) {
        targets.push(p);
    }
    for target in targets {
        for (field, max) in limits {
            if let Some(obj) = target.get_mut(field).and_then(|f| f.as_object_mut()) {
                obj.entry("maxLength").or_insert(serde_json::json!(max));
            }
        }
    }
}
