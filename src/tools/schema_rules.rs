//! Rules every tool schema must follow, and compiling it with no remote references.
//!
//! Must never fetch anything: `$ref` to a file or URL is refused at compile time.

use serde_json::Value;

/// Keywords whose value is one subschema.
const SUBSCHEMA: &[&str] = &[
    "additionalItems",
    "items",
    "contains",
    "not",
    "if",
    "then",
    "else",
    "propertyNames",
    "unevaluatedItems",
];
/// Keywords whose value is an array of subschemas.
const SUBSCHEMA_LIST: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems", "items"];
/// Keywords whose value maps names to subschemas.
const SUBSCHEMA_MAP: &[&str] = &[
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];

/// Checks that the schema is an object schema with `additionalProperties: false`
/// at every level that describes an object.
pub fn check_closed(schema: &Value) -> Result<(), String> {
    if schema.get("type") != Some(&Value::String("object".into())) {
        return Err("arguments_schema must have \"type\": \"object\"".into());
    }
    check_level(schema, "")
}

fn check_level(schema: &Value, at: &str) -> Result<(), String> {
    let Value::Object(map) = schema else {
        return Ok(());
    };
    let describes_object = map.get("type") == Some(&Value::String("object".into()))
        || matches!(map.get("type"), Some(Value::Array(types)) if types.iter().any(|t| t == "object"))
        || map.contains_key("properties")
        || map.contains_key("patternProperties")
        || map.contains_key("required");
    if describes_object && map.get("additionalProperties") != Some(&Value::Bool(false)) {
        let place = if at.is_empty() { "/" } else { at };
        return Err(format!(
            "the object schema at {place} must declare \"additionalProperties\": false"
        ));
    }
    if let Some(Value::String(reference)) = map.get("$ref") {
        if !reference.starts_with('#') {
            return Err(format!("remote $ref `{reference}` is not allowed"));
        }
    }
    for key in SUBSCHEMA {
        if let Some(sub) = map.get(*key) {
            if sub.is_object() {
                check_level(sub, &format!("{at}/{key}"))?;
            }
        }
    }
    for key in SUBSCHEMA_LIST {
        if let Some(Value::Array(subs)) = map.get(*key) {
            for (i, sub) in subs.iter().enumerate() {
                check_level(sub, &format!("{at}/{key}/{i}"))?;
            }
        }
    }
    for key in SUBSCHEMA_MAP {
        if let Some(Value::Object(subs)) = map.get(*key) {
            for (name, sub) in subs {
                check_level(sub, &format!("{at}/{key}/{name}"))?;
            }
        }
    }
    Ok(())
}

struct NoRemoteRefs;

impl jsonschema::Retrieve for NoRemoteRefs {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err(format!("remote reference {} is not allowed", uri.as_str()).into())
    }
}

/// Compiles a schema; a reference to anything outside it is an error.
pub fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::options()
        .with_retriever(NoRemoteRefs)
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| format!("schema does not compile: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn open_objects_are_refused_at_every_level() {
        assert!(check_closed(&json!({"type":"object","additionalProperties":false})).is_ok());
        assert!(check_closed(&json!({"type":"object"})).is_err());
        assert!(check_closed(&json!({"type":"string"})).is_err());
        let nested = json!({"type":"object","additionalProperties":false,
            "properties":{"a":{"type":"array","items":{"type":"object","properties":{}}}}});
        let err = check_closed(&nested).expect_err("nested open object");
        assert!(err.contains("/properties/a/items"), "{err}");
        let in_any_of = json!({"type":"object","additionalProperties":false,
            "properties":{"a":{"anyOf":[{"type":"object","additionalProperties":true}]}}});
        assert!(check_closed(&in_any_of).is_err());
    }

    #[test]
    fn remote_refs_are_refused() {
        let remote = json!({"type":"object","additionalProperties":false,
            "properties":{"a":{"$ref":"https://example.invalid/s.json"}}});
        assert!(check_closed(&remote).is_err());
        let via_compile = json!({"$ref":"file:///etc/passwd"});
        assert!(compile(&via_compile).is_err());
    }
}
