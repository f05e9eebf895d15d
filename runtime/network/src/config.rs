//! CNI network configuration: loading, selection and per-plugin config building.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::Error;

/// A network configuration list (a `.conflist`, or a single-plugin `.conf` wrapped as a list).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigList {
    /// Network name (`name`).
    pub name: String,
    /// `cniVersion` of the list.
    pub cni_version: String,
    /// Plugin configurations, in ADD order; each has a string `type`.
    pub plugins: Vec<Map<String, Value>>,
    /// The file it came from (empty for cached configs).
    pub source: PathBuf,
}

impl ConfigList {
    /// Parses a config list from JSON. A document without `plugins` is taken as a single
    /// plugin config (the `.conf` format).
    pub fn from_value(value: Value, source: &Path) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidConfig {
            path: source.to_path_buf(),
            reason,
        };
        let Value::Object(mut obj) = value else {
            return Err(invalid("top level is not a JSON object".into()));
        };
        let name = match obj.get("name") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(other) => {
                return Err(invalid(format!(
                    "\"name\" must be a non-empty string, got {other}"
                )));
            }
            None => return Err(invalid("missing \"name\"".into())),
        };
        let cni_version = match obj.get("cniVersion") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(other) => {
                return Err(invalid(format!(
                    "\"cniVersion\" must be a non-empty string, got {other}"
                )));
            }
            None => return Err(invalid("missing \"cniVersion\"".into())),
        };
        let plugins = match obj.remove("plugins") {
            Some(Value::Array(items)) => {
                let mut plugins = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Value::Object(p) => plugins.push(p),
                        other => {
                            return Err(invalid(format!("plugins[{i}] is not an object: {other}")));
                        }
                    }
                }
                plugins
            }
            Some(other) => return Err(invalid(format!("\"plugins\" is not an array: {other}"))),
            None => vec![obj],
        };
        if plugins.is_empty() {
            return Err(invalid("\"plugins\" is empty".into()));
        }
        for (i, p) in plugins.iter().enumerate() {
            match p.get("type") {
                Some(Value::String(t)) if valid_plugin_type(t) => {}
                other => {
                    return Err(invalid(format!(
                        "plugins[{i}] has no valid \"type\" (got {})",
                        other.map_or_else(|| "nothing".to_string(), |v| v.to_string())
                    )));
                }
            }
        }
        Ok(ConfigList {
            name,
            cni_version,
            plugins,
            source: source.to_path_buf(),
        })
    }

    /// Reads and parses one config file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let bytes = std::fs::read(path).map_err(|e| Error::io("reading CNI config", path, e))?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| Error::InvalidConfig {
            path: path.to_path_buf(),
            reason: format!("not valid JSON: {e}"),
        })?;
        Self::from_value(value, path)
    }

    /// The list as a `.conflist` JSON document (as stored in the cache).
    pub fn to_value(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("cniVersion".into(), Value::String(self.cni_version.clone()));
        obj.insert("name".into(), Value::String(self.name.clone()));
        obj.insert(
            "plugins".into(),
            Value::Array(self.plugins.iter().cloned().map(Value::Object).collect()),
        );
        Value::Object(obj)
    }
}

/// A plugin type must be a plain file name.
fn valid_plugin_type(t: &str) -> bool {
    !t.is_empty() && t != "." && t != ".." && !t.contains('/') && !t.contains('\0')
}

/// The `type` of a plugin config (validated by [`ConfigList::from_value`]).
pub(crate) fn plugin_type(plugin: &Map<String, Value>) -> &str {
    plugin.get("type").and_then(Value::as_str).unwrap_or("")
}

/// Picks the network config in `dir`: the first file by name ending in `.conflist`, `.conf`
/// or `.json` that parses as a valid config. Invalid files are skipped with a warning.
pub fn select_config(dir: &Path) -> Result<ConfigList, Error> {
    let no_config = |reason: String| Error::NoConfig {
        dir: dir.to_path_buf(),
        reason,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => return Err(no_config(format!("cannot read directory: {e}"))),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("conflist" | "conf" | "json")
            ) && p.is_file()
        })
        .collect();
    files.sort();
    let mut problems = Vec::new();
    for file in &files {
        match ConfigList::load(file) {
            Ok(list) => return Ok(list),
            Err(e) => {
                tracing::warn!(error = %e, "skipping CNI config");
                problems.push(e.to_string());
            }
        }
    }
    if problems.is_empty() {
        Err(no_config("no *.conflist, *.conf or *.json file".into()))
    } else {
        Err(no_config(problems.join("; ")))
    }
}

/// Builds the stdin config for one plugin: its own object plus `name`, `cniVersion`,
/// `prevResult` (if any) and `runtimeConfig` holding only the capabilities the plugin
/// declares with `true` and for which `runtime_args` has a value.
pub(crate) fn plugin_conf(
    list: &ConfigList,
    plugin: &Map<String, Value>,
    prev_result: Option<&Value>,
    runtime_args: &Map<String, Value>,
) -> Value {
    let mut conf = plugin.clone();
    conf.insert("name".into(), Value::String(list.name.clone()));
    conf.insert("cniVersion".into(), Value::String(list.cni_version.clone()));
    match prev_result {
        Some(prev) => {
            conf.insert("prevResult".into(), prev.clone());
        }
        None => {
            conf.remove("prevResult");
        }
    }
    let mut rc = Map::new();
    if let Some(Value::Object(caps)) = plugin.get("capabilities") {
        for (cap, enabled) in caps {
            if enabled.as_bool() == Some(true) {
                if let Some(v) = runtime_args.get(cap) {
                    rc.insert(cap.clone(), v.clone());
                }
            }
        }
    }
    if rc.is_empty() {
        conf.remove("runtimeConfig");
    } else {
        conf.insert("runtimeConfig".into(), Value::Object(rc));
    }
    Value::Object(conf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CONFLIST: &str = r#"{
      "cniVersion": "1.0.0", "name": "outrigger-pods",
      "plugins": [
        {"type": "bridge", "bridge": "cni0", "ipam": {"type": "host-local"}},
        {"type": "portmap", "capabilities": {"portMappings": true, "bandwidth": false}}
      ]}"#;

    #[test]
    fn parses_conflist() {
        let list = ConfigList::from_value(serde_json::from_str(CONFLIST).unwrap(), Path::new("x"))
            .unwrap();
        assert_eq!(list.name, "outrigger-pods");
        assert_eq!(list.cni_version, "1.0.0");
        assert_eq!(list.plugins.len(), 2);
        assert_eq!(plugin_type(&list.plugins[0]), "bridge");
        assert_eq!(plugin_type(&list.plugins[1]), "portmap");
        // round trip through to_value
        let again = ConfigList::from_value(list.to_value(), Path::new("x")).unwrap();
        assert_eq!(again.plugins, list.plugins);
    }

    #[test]
    fn single_conf_is_wrapped() {
        let v = json!({"cniVersion": "0.4.0", "name": "n", "type": "bridge", "bridge": "b0"});
        let list = ConfigList::from_value(v, Path::new("a.conf")).unwrap();
        assert_eq!(list.plugins.len(), 1);
        assert_eq!(list.cni_version, "0.4.0");
        assert_eq!(list.plugins[0].get("bridge"), Some(&json!("b0")));
    }

    #[test]
    fn rejects_bad_configs() {
        let cases = [
            (json!([]), "not a JSON object"),
            (
                json!({"cniVersion": "1.0.0", "plugins": []}),
                "missing \"name\"",
            ),
            (
                json!({"name": "n", "plugins": [{"type": "x"}]}),
                "cniVersion",
            ),
            (
                json!({"name": "n", "cniVersion": "1.0.0", "plugins": []}),
                "empty",
            ),
            (
                json!({"name": "n", "cniVersion": "1.0.0", "plugins": [{"a": 1}]}),
                "plugins[0]",
            ),
            (
                json!({"name": "n", "cniVersion": "1.0.0", "plugins": [{"type": "../x"}]}),
                "type",
            ),
            (
                json!({"name": "n", "cniVersion": "1.0.0", "plugins": [3]}),
                "not an object",
            ),
        ];
        for (v, want) in cases {
            let err = ConfigList::from_value(v.clone(), Path::new("f.conflist")).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains(want) && msg.contains("f.conflist"),
                "{v}: {msg}"
            );
        }
    }

    #[test]
    fn selects_first_valid_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("05-broken.conflist"), "{not json").unwrap();
        std::fs::write(dir.path().join("00-ignored.txt"), CONFLIST).unwrap();
        std::fs::write(
            dir.path().join("20-b.conf"),
            r#"{"cniVersion":"1.0.0","name":"second","type":"bridge"}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("10-a.conflist"), CONFLIST).unwrap();
        let list = select_config(dir.path()).unwrap();
        assert_eq!(list.name, "outrigger-pods");
        assert_eq!(list.source, dir.path().join("10-a.conflist"));
    }

    #[test]
    fn empty_or_missing_dir_is_no_config() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            select_config(dir.path()),
            Err(Error::NoConfig { .. })
        ));
        std::fs::write(dir.path().join("a.conflist"), "[]").unwrap();
        let err = select_config(dir.path()).unwrap_err();
        assert!(err.to_string().contains("not a JSON object"), "{err}");
        assert!(matches!(
            select_config(&dir.path().join("nope")),
            Err(Error::NoConfig { .. })
        ));
    }

    #[test]
    fn runtime_config_only_for_declared_capabilities() {
        let list = ConfigList::from_value(serde_json::from_str(CONFLIST).unwrap(), Path::new("x"))
            .unwrap();
        let mut rt = Map::new();
        rt.insert(
            "portMappings".into(),
            json!([{"hostPort": 8080, "containerPort": 80}]),
        );
        rt.insert("bandwidth".into(), json!({"ingressRate": 1}));
        let prev = json!({"cniVersion": "1.0.0", "ips": []});

        let bridge = plugin_conf(&list, &list.plugins[0], None, &rt);
        assert_eq!(bridge["name"], "outrigger-pods");
        assert_eq!(bridge["cniVersion"], "1.0.0");
        assert!(bridge.get("runtimeConfig").is_none());
        assert!(bridge.get("prevResult").is_none());

        let portmap = plugin_conf(&list, &list.plugins[1], Some(&prev), &rt);
        assert_eq!(portmap["prevResult"], prev);
        assert_eq!(
            portmap["runtimeConfig"],
            json!({"portMappings": [{"hostPort": 8080, "containerPort": 80}]})
        );

        // declared but no value: no runtimeConfig at all
        let none = plugin_conf(&list, &list.plugins[1], None, &Map::new());
        assert!(none.get("runtimeConfig").is_none());
    }
}
